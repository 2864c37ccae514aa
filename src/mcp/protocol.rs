//! The Model Context Protocol server's logic, pure: JSON-RPC 2.0 messages in,
//! responses and notifications out, over a [`Catalog`] of a verified plan's
//! views and a [`Host`] that reads bytes and runs tools. `super` does the IO
//! (stdin, stdout, the registry, following the applied plan).

use std::collections::{BTreeMap, BTreeSet};

use rtt_canonical::Sha256;
use rtt_plan::Views;
use serde_json::{Map, Value, json};

/// Revisions of the initialize handshake this server speaks, newest last.
pub const PROTOCOL_VERSIONS: [&str; 4] = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];

/// JSON-RPC error codes.
const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;
/// MCP: no resource at that URI.
const RESOURCE_NOT_FOUND: i64 = -32002;

/// One view, as a resource: `rtt://PROVIDER/ID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    pub provider: String,
    pub id: String,
    /// Where the view lies in a mount (`<provider>/<path>`).
    pub path: String,
    /// The view's bytes.
    pub result: Sha256,
}

impl Resource {
    pub fn uri(&self) -> String {
        format!("rtt://{}/{}", self.provider, self.id)
    }
}

/// The resources of the plan being served (none before a plan verifies).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    pub plan: Option<Sha256>,
    pub resources: BTreeMap<String, Resource>,
}

impl Catalog {
    /// The views of a verified plan.
    pub fn of(plan: Sha256, views: &Views) -> Self {
        let resources = views
            .iter()
            .flat_map(|(provider, views)| {
                views.iter().map(move |view| Resource {
                    provider: provider.clone(),
                    id: view.id.clone(),
                    path: format!("{provider}/{}", view.path),
                    result: view.result,
                })
            })
            .map(|resource| (resource.uri(), resource))
            .collect();
        Catalog { plan: Some(plan), resources }
    }
}

/// A tool's outcome: its text, and whether it failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolOutput {
    pub text: String,
    pub failed: bool,
}

/// What the server asks of the world.
pub trait Host {
    /// The bytes of a resource, re-hashed against `resource.result`.
    fn read(&mut self, resource: &Resource) -> Result<Vec<u8>, String>;
    /// Runs a tool of [`tools`] with checked arguments.
    fn call(&mut self, tool: &str, arguments: &Map<String, Value>) -> ToolOutput;
}

/// A tool: its name, what it does, its arguments (name, description,
/// required, is a list).
pub struct Tool {
    pub name: &'static str,
    pub description: &'static str,
    pub arguments: &'static [(&'static str, &'static str, bool, bool)],
}

/// The tools: read-only commands of rtt (nothing that applies or signs).
pub const TOOLS: [Tool; 4] = [
    Tool {
        name: "plan",
        description: "Plan a config (rtt plan): place every replica; returns the plan document (canonical JSON, unsigned) and the solve summary. Writes no plan file and no state; like the command, it stores the views it builds in the registry's content-addressed store.",
        arguments: &[
            ("config", "Path of the config (rtt.yaml, .json or .cue)", true, false),
            ("previous", "Path of the plan in force, to plan with churn against it", false, false),
            ("time_limit", "Wall-time limit in seconds, e.g. \"30\"", false, false),
        ],
    },
    Tool {
        name: "explain",
        description: "Explain a plan (rtt explain --format json): per route what blocks a faster level, binding constraints, shadow prices, what-ifs.",
        arguments: &[
            ("plan", "Path of the plan", true, false),
            ("config", "Path of the config it was planned from", true, false),
            ("what_if", "Changes to try, e.g. \"cores h01/0 +8\"", false, true),
        ],
    },
    Tool {
        name: "diff",
        description: "Compare two plans semantically (rtt diff --format json): moves, scale changes, route p99s, SLO violations.",
        arguments: &[("old", "Path of the older plan", true, false), ("new", "Path of the newer plan", true, false)],
    },
    Tool {
        name: "verify",
        description: "Check a plan as rtt apply would before touching anything (rtt verify --format json): canonical form, signatures and threshold, serial, registry.",
        arguments: &[("plan", "Path of the plan", true, false)],
    },
];

/// One MCP session.
pub struct Server {
    catalog: Catalog,
    subscribed: BTreeSet<String>,
    version: &'static str,
}

impl Server {
    pub fn new(catalog: Catalog) -> Self {
        Server { catalog, subscribed: BTreeSet::new(), version: PROTOCOL_VERSIONS[PROTOCOL_VERSIONS.len() - 1] }
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Puts another plan's views in force; returns the notifications due:
    /// `list_changed` when the set of URIs changed, `updated` for each
    /// subscribed URI whose bytes changed or that went away.
    pub fn switch(&mut self, next: Catalog) -> Vec<Value> {
        let old = std::mem::replace(&mut self.catalog, next);
        let mut out = Vec::new();
        if old.resources.keys().ne(self.catalog.resources.keys()) {
            out.push(notification("notifications/resources/list_changed", json!({})));
        }
        for uri in &self.subscribed {
            let before = old.resources.get(uri).map(|r| r.result);
            let after = self.catalog.resources.get(uri).map(|r| r.result);
            if before != after {
                out.push(notification("notifications/resources/updated", json!({ "uri": uri })));
            }
        }
        out
    }

    /// Answers one line of input: `None` for a notification or a response.
    pub fn handle_line(&mut self, line: &str, host: &mut dyn Host) -> Option<Value> {
        match serde_json::from_str::<Value>(line) {
            Ok(message) => self.handle(message, host),
            Err(e) => Some(error(Value::Null, PARSE_ERROR, &format!("not JSON: {e}"))),
        }
    }

    fn handle(&mut self, message: Value, host: &mut dyn Host) -> Option<Value> {
        let Value::Object(mut message) = message else {
            return Some(error(
                Value::Null,
                INVALID_REQUEST,
                "a message must be a JSON object (batches are not part of MCP)",
            ));
        };
        let id = message.remove("id");
        let method = message.remove("method");
        let (Some(id), Some(Value::String(method))) = (id.clone(), method) else {
            // A notification (no id), or a response to us (we send no requests).
            return match id {
                Some(id) if !message.contains_key("result") && !message.contains_key("error") => {
                    Some(error(id, INVALID_REQUEST, "`method` must be a string"))
                }
                _ => None,
            };
        };
        if !matches!(id, Value::String(_) | Value::Number(_)) {
            return Some(error(Value::Null, INVALID_REQUEST, "`id` must be a string or a number"));
        }
        let params = match message.remove("params") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(params)) => params,
            Some(_) => return Some(error(id, INVALID_PARAMS, "`params` must be an object")),
        };
        Some(match self.dispatch(&method, &params, host) {
            Ok(result) => json!({ "jsonrpc": "2.0", "id": id, "result": result }),
            Err((code, message)) => error(id, code, &message),
        })
    }

    fn dispatch(
        &mut self,
        method: &str,
        params: &Map<String, Value>,
        host: &mut dyn Host,
    ) -> Result<Value, (i64, String)> {
        match method {
            "initialize" => {
                let asked = params.get("protocolVersion").and_then(Value::as_str).unwrap_or_default();
                self.version = PROTOCOL_VERSIONS.iter().find(|v| **v == asked).copied().unwrap_or(self.version);
                Ok(json!({
                    "protocolVersion": self.version,
                    "capabilities": {
                        "resources": { "subscribe": true, "listChanged": true },
                        "tools": { "listChanged": false },
                    },
                    "serverInfo": { "name": "rtt", "version": env!("CARGO_PKG_VERSION") },
                    "instructions": "Resources are the provider views of the verified rtt plan (rtt://PROVIDER/ID, \
                        the bytes `rtt mount` serves); they change when another plan is applied. Tools are \
                        rtt's read-only commands; paths are relative to where the server runs.",
                }))
            }
            "ping" => Ok(json!({})),
            "resources/list" => {
                Ok(json!({ "resources": self.catalog.resources.values().map(describe).collect::<Vec<_>>() }))
            }
            "resources/templates/list" => Ok(json!({ "resourceTemplates": [] })),
            "resources/read" => {
                let uri = uri(params)?;
                let resource = self.resource(&uri)?;
                let bytes = host.read(&resource).map_err(|e| (RESOURCE_NOT_FOUND, format!("{uri}: {e}")))?;
                let text = String::from_utf8(bytes).map_err(|_| (RESOURCE_NOT_FOUND, format!("{uri}: not UTF-8")))?;
                Ok(json!({ "contents": [{ "uri": uri, "mimeType": "application/json", "text": text }] }))
            }
            "resources/subscribe" => {
                let uri = uri(params)?;
                self.resource(&uri)?;
                self.subscribed.insert(uri);
                Ok(json!({}))
            }
            "resources/unsubscribe" => {
                self.subscribed.remove(&uri(params)?);
                Ok(json!({}))
            }
            "tools/list" => Ok(json!({ "tools": TOOLS.iter().map(tool_schema).collect::<Vec<_>>() })),
            "tools/call" => {
                let name = params
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or((INVALID_PARAMS, "`name` must be a string".into()))?;
                let tool =
                    TOOLS.iter().find(|t| t.name == name).ok_or((INVALID_PARAMS, format!("no tool {name:?}")))?;
                let arguments = match params.get("arguments") {
                    None => Map::new(),
                    Some(Value::Object(arguments)) => arguments.clone(),
                    Some(_) => return Err((INVALID_PARAMS, "`arguments` must be an object".into())),
                };
                check_arguments(tool, &arguments).map_err(|e| (INVALID_PARAMS, e))?;
                let output = host.call(tool.name, &arguments);
                Ok(json!({ "content": [{ "type": "text", "text": output.text }], "isError": output.failed }))
            }
            other => {
                Err((METHOD_NOT_FOUND, format!("method {other:?} is not served (rtt serves resources and tools)")))
            }
        }
    }

    fn resource(&self, uri: &str) -> Result<Resource, (i64, String)> {
        self.catalog.resources.get(uri).cloned().ok_or_else(|| {
            let plan = self.catalog.plan.map_or_else(|| "no verified plan".to_owned(), |p| format!("plan {p}"));
            (RESOURCE_NOT_FOUND, format!("no resource {uri} in {plan}"))
        })
    }
}

fn uri(params: &Map<String, Value>) -> Result<String, (i64, String)> {
    params
        .get("uri")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or((INVALID_PARAMS, "`uri` must be a string".into()))
}

fn describe(resource: &Resource) -> Value {
    json!({
        "uri": resource.uri(),
        "name": resource.id,
        "title": format!("{} as {} sees it", resource.id, resource.provider),
        "description": format!("view of {} for provider {} ({}), {}", resource.id, resource.provider, resource.path, resource.result),
        "mimeType": "application/json",
    })
}

fn tool_schema(tool: &Tool) -> Value {
    let properties: Map<String, Value> = tool
        .arguments
        .iter()
        .map(|(name, description, _, list)| {
            let schema = if *list {
                json!({ "type": "array", "items": { "type": "string" }, "description": description })
            } else {
                json!({ "type": "string", "description": description })
            };
            ((*name).to_owned(), schema)
        })
        .collect();
    let required: Vec<&str> = tool.arguments.iter().filter(|a| a.2).map(|a| a.0).collect();
    json!({
        "name": tool.name,
        "description": tool.description,
        "inputSchema": { "type": "object", "properties": properties, "required": required, "additionalProperties": false },
        "annotations": { "readOnlyHint": true, "destructiveHint": false, "openWorldHint": false },
    })
}

/// Arguments are the tool's, required ones present, strings or string lists.
fn check_arguments(tool: &Tool, arguments: &Map<String, Value>) -> Result<(), String> {
    for (name, value) in arguments {
        let Some((_, _, _, list)) = tool.arguments.iter().find(|a| a.0 == name) else {
            let known: Vec<&str> = tool.arguments.iter().map(|a| a.0).collect();
            return Err(format!("{} takes no argument {name:?} (it takes {})", tool.name, known.join(", ")));
        };
        let ok = if *list {
            value.as_array().is_some_and(|items| items.iter().all(Value::is_string))
        } else {
            value.is_string()
        };
        if !ok {
            return Err(format!("`{name}` must be {}", if *list { "an array of strings" } else { "a string" }));
        }
    }
    match tool.arguments.iter().find(|a| a.2 && !arguments.contains_key(a.0)) {
        Some((name, ..)) => Err(format!("{} needs `{name}`", tool.name)),
        None => Ok(()),
    }
}

fn notification(method: &str, params: Value) -> Value {
    json!({ "jsonrpc": "2.0", "method": method, "params": params })
}

fn error(id: Value, code: i64, message: &str) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake;

    impl Host for Fake {
        fn read(&mut self, resource: &Resource) -> Result<Vec<u8>, String> {
            Ok(format!("{{\"id\":\"{}\"}}", resource.id).into_bytes())
        }
        fn call(&mut self, tool: &str, arguments: &Map<String, Value>) -> ToolOutput {
            ToolOutput { text: format!("{tool} {}", Value::Object(arguments.clone())), failed: false }
        }
    }

    fn catalog(ids: &[(&str, &str, u8)]) -> Catalog {
        let resources = ids
            .iter()
            .map(|(provider, id, byte)| Resource {
                provider: (*provider).to_owned(),
                id: (*id).to_owned(),
                path: format!("{provider}/agents/{id}.json"),
                result: Sha256([*byte; 32]),
            })
            .map(|r| (r.uri(), r))
            .collect();
        Catalog { plan: Some(Sha256([9; 32])), resources }
    }

    fn call(server: &mut Server, request: Value) -> Value {
        server.handle_line(&request.to_string(), &mut Fake).expect("a response")
    }

    #[test]
    fn initialize_negotiates_a_known_revision_or_offers_the_newest() {
        let mut server = Server::new(Catalog::default());
        let old = call(
            &mut server,
            json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26"}}),
        );
        assert_eq!(old["result"]["protocolVersion"], "2025-03-26");
        let future = call(
            &mut server,
            json!({"jsonrpc":"2.0","id":"a","method":"initialize","params":{"protocolVersion":"2099-01-01"}}),
        );
        assert_eq!(future["id"], "a");
        assert!(PROTOCOL_VERSIONS.contains(&future["result"]["protocolVersion"].as_str().unwrap_or_default()));
        assert_eq!(server.handle_line(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#, &mut Fake), None);
    }

    #[test]
    fn resources_are_listed_read_and_refused_by_uri() {
        let mut server = Server::new(catalog(&[("claude", "gateway@1", 1), ("codex", "search@1", 2)]));
        let list = call(&mut server, json!({"jsonrpc":"2.0","id":1,"method":"resources/list"}));
        let uris: Vec<&str> =
            list["result"]["resources"].as_array().unwrap().iter().map(|r| r["uri"].as_str().unwrap()).collect();
        assert_eq!(uris, ["rtt://claude/gateway@1", "rtt://codex/search@1"]);
        let read = call(
            &mut server,
            json!({"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"rtt://codex/search@1"}}),
        );
        assert_eq!(read["result"]["contents"][0]["text"], r#"{"id":"search@1"}"#);
        let missing = call(
            &mut server,
            json!({"jsonrpc":"2.0","id":3,"method":"resources/read","params":{"uri":"rtt://codex/nope"}}),
        );
        assert_eq!(missing["error"]["code"], RESOURCE_NOT_FOUND);
        let unknown = call(&mut server, json!({"jsonrpc":"2.0","id":4,"method":"prompts/list"}));
        assert_eq!(unknown["error"]["code"], METHOD_NOT_FOUND);
        assert_eq!(server.handle_line("{oops", &mut Fake).expect("error")["error"]["code"], PARSE_ERROR);
    }

    #[test]
    fn a_switch_notifies_list_changes_and_updates_of_subscribed_uris_only() {
        let mut server = Server::new(catalog(&[("claude", "gateway@1", 1), ("claude", "search@1", 2)]));
        call(
            &mut server,
            json!({"jsonrpc":"2.0","id":1,"method":"resources/subscribe","params":{"uri":"rtt://claude/gateway@1"}}),
        );
        // Same URIs, gateway's bytes change, search's too (not subscribed).
        let notes = server.switch(catalog(&[("claude", "gateway@1", 3), ("claude", "search@1", 4)]));
        assert_eq!(notes, [notification("notifications/resources/updated", json!({"uri": "rtt://claude/gateway@1"}))]);
        // A resource goes away: the list changed; gateway unchanged.
        let notes = server.switch(catalog(&[("claude", "gateway@1", 3)]));
        assert_eq!(notes, [notification("notifications/resources/list_changed", json!({}))]);
    }

    #[test]
    fn tools_check_their_arguments_before_running() {
        let mut server = Server::new(Catalog::default());
        let listed = call(&mut server, json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}));
        let names: Vec<&str> =
            listed["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["plan", "explain", "diff", "verify"]);
        let missing = call(
            &mut server,
            json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"diff","arguments":{"old":"a.json"}}}),
        );
        assert_eq!(missing["error"]["code"], INVALID_PARAMS);
        let extra = call(
            &mut server,
            json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"verify","arguments":{"plan":"p","key":"k"}}}),
        );
        assert_eq!(extra["error"]["code"], INVALID_PARAMS);
        let apply = call(
            &mut server,
            json!({"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"apply","arguments":{}}}),
        );
        assert_eq!(apply["error"]["code"], INVALID_PARAMS);
        let ran = call(
            &mut server,
            json!({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"verify","arguments":{"plan":"p.json"}}}),
        );
        assert_eq!(ran["result"]["content"][0]["text"], r#"verify {"plan":"p.json"}"#);
        assert_eq!(ran["result"]["isError"], false);
    }
}
