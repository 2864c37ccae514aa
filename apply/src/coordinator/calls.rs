//! The coordinator's calls to drivers: starting them, opening sessions with
//! an epoch, delivering a decision (with one restart), and verifying through
//! `Rx`. Failures are typed `DriverError`s; transport failures count against
//! the driver's breaker.

use super::*;
use crate::driver::client::Sandboxed;
use crate::driver::protocol::HostPlacements;
use crate::driver::sandbox::Policy;

impl Coordinator {
    /// Step 5: the decision to every participant; a driver that fails is
    /// restarted and told once more.
    pub(super) fn deliver_all(
        &mut self,
        targets: &[String],
        decision: Decision,
        epoch: u64,
        txn: &str,
        plan: Sha256,
    ) -> Result<(), ApplyError> {
        let mut undelivered = Vec::new();
        for driver in targets {
            let mut outcome = self.deliver(driver, decision, epoch, txn, plan);
            if let Err(e) = &outcome {
                self.note_failure(driver, e);
                if let Some(d) = self.drivers.get_mut(driver) {
                    d.restart();
                }
                self.opened.remove(driver);
                outcome = self.deliver(driver, decision, epoch, txn, plan);
            }
            if let Err(e) = outcome {
                self.note_failure(driver, &e);
                undelivered.push(e.to_string());
            }
            self.faults.point("delivered");
        }
        if undelivered.is_empty() {
            Ok(())
        } else {
            self.flush_flight("in_doubt", txn);
            Err(ApplyError::InDoubt { txn: txn.to_owned(), decision, drivers: undelivered })
        }
    }

    pub(super) fn deliver(
        &mut self,
        driver: &str,
        decision: Decision,
        epoch: u64,
        txn: &str,
        plan: Sha256,
    ) -> Result<(), DriverError> {
        self.open_session(driver, plan, epoch)?;
        let d = self.driver(driver)?;
        match decision {
            Decision::Commit => d.commit(epoch, txn),
            Decision::Abort => d.abort(epoch, txn),
        }
    }

    /// Step 6: `Rx` every changed host; the mismatches, described.
    pub(super) fn verify(&mut self, changes: &ChangeSet) -> Vec<String> {
        let mut mismatches = Vec::new();
        for (driver, desired) in changes {
            let hosts: Vec<String> = desired.keys().cloned().collect();
            let mut read = self.driver(driver).and_then(|d| d.rx(&hosts));
            if let Err(e) = &read {
                self.note_failure(driver, e);
                if let Some(d) = self.drivers.get_mut(driver) {
                    d.restart();
                }
                self.opened.remove(driver);
                read = self.driver(driver).and_then(|d| d.rx(&hosts));
            }
            match read {
                Err(e) => {
                    self.note_failure(driver, &e);
                    mismatches.push(format!("driver `{driver}` could not be read: {e}"));
                }
                Ok(actual) => {
                    for (host, want) in desired {
                        let mut have = actual.get(host).cloned().unwrap_or_default();
                        have.sort();
                        if &have != want {
                            mismatches.push(format!(
                                "host `{host}` (driver `{driver}`) holds {} placement rows, not the plan's {}",
                                have.len(),
                                want.len()
                            ));
                        }
                    }
                }
            }
        }
        mismatches
    }

    /// Every host's placements in force, as its driver reports them through
    /// `Rx`, outside any transaction: what the fleet holds now (the chaos
    /// pack's judge; drift).
    pub fn read_hosts(&mut self) -> Result<HostPlacements, DriverError> {
        let mut all = HostPlacements::new();
        let drivers: Vec<(String, Vec<String>)> =
            self.fleet.hosts_of.iter().map(|(d, h)| (d.clone(), h.clone())).collect();
        for (driver, hosts) in drivers {
            if hosts.is_empty() {
                continue;
            }
            self.start(&driver)?;
            let mut read = self.driver(&driver)?.rx(&hosts)?;
            for host in hosts {
                let mut rows = read.remove(&host).unwrap_or_default();
                rows.sort();
                all.insert(host, rows);
            }
        }
        Ok(all)
    }

    /// Starts a driver and checks what it asks for against its grant.
    pub(super) fn start(&mut self, name: &str) -> Result<ProbeResult, DriverError> {
        let granted = self.granted_capabilities(name);
        let result = self.driver(name).and_then(|d| d.probe());
        let probe = result.inspect_err(|e| self.note_failure(name, e))?;
        if let Some(extra) = probe.capabilities.iter().find(|c| !granted.contains(c)) {
            let e = DriverError::CapabilityBreach {
                driver: name.to_owned(),
                detail: format!("it needs capability `{extra}`, which the config does not grant"),
            };
            self.note_failure(name, &e);
            return Err(e);
        }
        Ok(probe)
    }

    pub(super) fn open_session(&mut self, name: &str, plan: Sha256, epoch: u64) -> Result<(), DriverError> {
        if self.opened.contains(name) {
            return Ok(());
        }
        let params = OpenParams {
            plan: plan.to_string(),
            epoch,
            capabilities: self.granted_capabilities(name),
            hosts: self.fleet.hosts_of.get(name).cloned().unwrap_or_default(),
        };
        self.driver(name)?.open(&params)?;
        self.opened.insert(name.to_owned());
        Ok(())
    }

    pub(super) fn granted_capabilities(&self, name: &str) -> Vec<String> {
        match self.fleet.drivers.get(name) {
            Some(DriverConfig::Dir { .. }) => vec![CAP_PLACEMENTS_WRITE.to_owned()],
            Some(DriverConfig::Command { capabilities, .. } | DriverConfig::Socket { capabilities, .. }) => {
                capabilities.clone()
            }
            None => Vec::new(),
        }
    }

    pub(super) fn driver(&mut self, name: &str) -> Result<&mut Driver, DriverError> {
        if !self.drivers.contains_key(name) {
            let config = self
                .fleet
                .drivers
                .get(name)
                .ok_or_else(|| DriverError::Spawn { driver: name.to_owned(), detail: "not in the config".into() })?;
            let endpoint: Box<dyn crate::driver::Endpoint> = match config {
                DriverConfig::Dir { root } => {
                    let root = root.clone();
                    let scope = format!("driver:{name}");
                    Box::new(InProcess::new(move || DirStore::open(&root, Faults::from_env(&scope))))
                }
                DriverConfig::Socket { path, uid, timeout, .. } => {
                    Box::new(ProcessEndpoint::socket(SocketSpec { path: path.clone(), uid: *uid, timeout: *timeout }))
                }
                DriverConfig::Command { argv, timeout, capabilities, root, env, sandbox } => {
                    let path = std::env::var("PATH").ok();
                    let policy =
                        Policy::new(*sandbox, argv, &self.workspace.base, root, capabilities, env, path.as_deref())
                            .map_err(|e| DriverError::Spawn { driver: name.to_owned(), detail: e.to_string() })?;
                    Box::new(ProcessEndpoint::new(ProcessSpec {
                        argv: argv.clone(),
                        cwd: self.workspace.base.clone(),
                        timeout: *timeout,
                        stderr_log: Some(self.workspace.layout.driver_log(name)),
                        sandbox: Some(Sandboxed { launcher: self.workspace.launcher.clone(), policy }),
                    }))
                }
            };
            self.drivers.insert(name.to_owned(), Driver::new(name, endpoint).recorded(self.recorder.clone()));
        }
        self.drivers
            .get_mut(name)
            .ok_or_else(|| DriverError::Spawn { driver: name.to_owned(), detail: "not started".into() })
    }

    /// Transport failures count against the breaker; refusals are answers.
    pub(super) fn note_failure(&mut self, driver: &str, error: &DriverError) {
        if !matches!(error, DriverError::Refused { .. }) {
            self.failed.insert(driver.to_owned());
        }
    }
}
