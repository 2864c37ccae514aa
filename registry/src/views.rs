//! Provider views (SPEC §7): for each provider in the config, each selected
//! agent's manifest with the provider's and the env's overlays applied, and
//! the check that a plan's views still match the registry (mix-and-match).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rtt_canonical::Sha256;
use rtt_durable::OverlayLayout;
use rtt_plan::views::check_view_path;
use rtt_plan::{Layer, OverlayRef, View, Views};
use rtt_schema::model::{AgentId, Model};

use crate::error::{RegistryError, Result};
use crate::overlay::{Overlay, OverlayFile, applicable, apply_layers, cache_key};
use crate::{Index, Registry};

/// The `.rtt/overlays` directory.
#[derive(Debug, Clone)]
pub struct OverlayDir {
    layout: OverlayLayout,
}

impl OverlayDir {
    /// Overlays laid out as SPEC §2 says (`.rtt/overlays`).
    pub fn new(layout: OverlayLayout) -> Self {
        Self { layout }
    }

    /// The overlay file of a layer and name, if there is one.
    pub fn load(&self, layer: Layer, name: &str) -> Result<Option<OverlayFile>> {
        if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', '\0']) {
            return Err(RegistryError::Unavailable(format!("{name:?} is not a safe overlay name")));
        }
        let path = self.path(layer, name);
        match std::fs::read_to_string(&path) {
            Ok(text) => OverlayFile::parse(&path, &text).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(RegistryError::io("read overlay", &path)(e)),
        }
    }

    fn path(&self, layer: Layer, name: &str) -> PathBuf {
        match layer {
            Layer::Provider => self.layout.provider(name),
            Layer::Env => self.layout.env(name),
        }
    }
}

/// Builds the views of every provider in the config, storing overlay parts
/// and results in the CAS. Returns them with the hash of the index used.
pub fn build(registry: &Registry, overlays: &OverlayDir, model: &Model) -> Result<(Sha256, Views)> {
    let index = registry.index()?;
    let env = match &model.env {
        Some(name) => Some((
            name.as_str(),
            overlays.load(Layer::Env, name)?.ok_or_else(|| {
                RegistryError::Unavailable(format!(
                    "the config selects env `{name}` but {} does not exist",
                    overlays.path(Layer::Env, name).display()
                ))
            })?,
        )),
        None => None,
    };
    let mut views = Views::new();
    for provider in &model.providers {
        let provider_file = overlays.load(Layer::Provider, &provider.name)?;
        let provider_path = overlays.path(Layer::Provider, &provider.name);
        let mut entries = Vec::new();
        for agent_id in &provider.agents {
            let agent = &model.agents[agent_id.0 as usize];
            let id = agent.id.as_str();
            let base = base_of(&index, model, &provider.name, *agent_id)?;
            let provider_part = applicable(provider_file.as_ref().map(|f| &f.overlay), id);
            let env_part = applicable(env.as_ref().map(|(_, f)| &f.overlay), id);
            let mut layers = vec![(Layer::Provider, provider.name.as_str(), provider_part, provider_path.clone())];
            if let Some((name, file)) = &env {
                layers.push((Layer::Env, name, env_part.clone(), file.path.clone()));
            }
            let result = registry.view(id, &base, &layers)?;
            let overlays = layers
                .iter()
                .map(|(layer, name, part, _)| OverlayRef { layer: *layer, name: (*name).to_owned(), hash: part.hash() })
                .collect();
            let path = format!("{}/{id}.json", provider.dir.trim_end_matches('/'));
            entries.push(View { id: id.to_owned(), path, base, overlays, result });
        }
        views.insert(provider.name.clone(), entries);
    }
    Ok((index.hash(), views))
}

/// The manifest a provider's view of an agent starts from: the agent's
/// `manifest:` pin, else the index's entry for its id.
fn base_of(index: &Index, model: &Model, provider: &str, agent: AgentId) -> Result<Sha256> {
    let agent = &model.agents[agent.0 as usize];
    let id = agent.id.as_str();
    agent.manifest.or_else(|| index.agents.get(id).copied()).ok_or_else(|| {
        RegistryError::Unavailable(format!(
            "provider `{provider}` shows agent {id}, which has no manifest: add one with \
             `rtt registry add FILE` or set `manifest:` on the agent"
        ))
    })
}

/// Every manifest a plan of `model` rests on, agent id → hash: the base of
/// each provider view and every `manifest:` pin. What signed ingest checks
/// before anything is built.
pub fn manifests(registry: &Registry, model: &Model) -> Result<BTreeMap<String, Sha256>> {
    let index = registry.index()?;
    let mut manifests = BTreeMap::new();
    for agent in &model.agents {
        if let Some(hash) = agent.manifest {
            manifests.insert(agent.id.clone(), hash);
        }
    }
    for provider in &model.providers {
        for agent in &provider.agents {
            let id = model.agents[agent.0 as usize].id.clone();
            manifests.insert(id, base_of(&index, model, &provider.name, *agent)?);
        }
    }
    Ok(manifests)
}

/// One way a plan's views no longer match the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch(pub String);

/// Checks a plan's `inputs.registry` and `views` against the registry and
/// overlays on disk now: the index must be the one planned against, every
/// base and result must be present and intact, each overlay's applicable
/// part must hash as recorded, and re-applying them must give the recorded
/// result. Returns every mismatch.
pub fn check(
    registry: &Registry,
    overlays: &OverlayDir,
    planned_index: Option<Sha256>,
    views: &Views,
) -> Vec<Mismatch> {
    let mut problems = Vec::new();
    let index_hash = registry.index().map(|index| index.hash());
    match (planned_index, &index_hash) {
        (None, _) if views.is_empty() => {}
        (None, _) => problems.push(Mismatch("the plan has views but records no registry index".into())),
        (Some(planned), Ok(now)) if planned != *now => problems.push(Mismatch(format!(
            "the registry index is {now}, the plan was made against {planned} (a manifest was added or swapped)"
        ))),
        (Some(_), Ok(_)) => {}
        (Some(_), Err(e)) => problems.push(Mismatch(e.to_string())),
    }
    let mut files: BTreeMap<(Layer, String), Option<OverlayFile>> = BTreeMap::new();
    for (provider, entries) in views {
        for view in entries {
            let at = format!("views.{provider}.{}", view.id);
            if let Err(reason) = check_view_path(&view.path, &view.id) {
                problems.push(Mismatch(format!("{at}: {reason}")));
            }
            let base = match registry.get(&view.base) {
                Ok(bytes) => bytes.into_owned(),
                Err(e) => {
                    problems.push(Mismatch(format!("{at}: base {}: {e}", view.base)));
                    continue;
                }
            };
            let mut parts: Vec<(Overlay, PathBuf)> = Vec::new();
            for overlay in &view.overlays {
                let key = (overlay.layer, overlay.name.clone());
                if !files.contains_key(&key) {
                    match overlays.load(overlay.layer, &overlay.name) {
                        Ok(file) => files.insert(key.clone(), file),
                        Err(e) => {
                            problems.push(Mismatch(format!("{at}: {e}")));
                            continue;
                        }
                    };
                }
                let file = files.get(&key).and_then(Option::as_ref);
                let part = applicable(file.map(|f| &f.overlay), &view.id);
                if part.hash() != overlay.hash {
                    problems.push(Mismatch(format!(
                        "{at}: the {} overlay `{}` is {} now, the plan was made with {}",
                        overlay.layer.name(),
                        overlay.name,
                        part.hash(),
                        overlay.hash
                    )));
                }
                parts.push((part, overlays.path(overlay.layer, &overlay.name)));
            }
            let layers: Vec<(&Overlay, &Path)> = parts.iter().map(|(o, p)| (o, p.as_path())).collect();
            match apply_layers(&view.id, &base, &layers) {
                Ok(bytes) if Sha256::of(&bytes) != view.result => problems.push(Mismatch(format!(
                    "{at}: applying the overlays gives {}, the plan says {}",
                    Sha256::of(&bytes),
                    view.result
                ))),
                Ok(_) => {}
                Err(e) => problems.push(Mismatch(format!("{at}: {e}"))),
            }
            if let Err(e) = registry.get(&view.result) {
                problems.push(Mismatch(format!("{at}: result {}: {e}", view.result)));
            }
        }
    }
    problems
}

/// The cache key of a view from its base and layer parts (the env part is
/// the empty overlay when the config has no env).
pub fn view_key(base: &Sha256, provider: &Overlay, env: Option<&Overlay>) -> Sha256 {
    let empty = Overlay::default();
    cache_key(base, &provider.hash(), &env.unwrap_or(&empty).hash())
}
