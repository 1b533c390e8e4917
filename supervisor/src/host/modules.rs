//! Resolving and loading ES modules for a worker.
//!
//! Specifiers resolve as follows:
//! * relative (`./x.js`, `../x.js`) from the request's code or an
//!   in-request module: the request's `modules` map, by normalised path
//!   (id `request:PATH`);
//! * relative from a module of the modules directory, and bare (`zod`,
//!   `lodash-es/debounce`) from anywhere: Node's ESM rules (package.json
//!   `exports` with the `import`/`default` conditions, then `module`,
//!   `main`, subpaths) by `oxc_resolver`, inside `--modules-dir` only (id
//!   `modules:PATH` relative to it);
//! * `node:` built-ins and URLs: not available.
//!
//! Sources read from disk are cached by path, length and mtime with their
//! SHA-256. A package that is CommonJS only gets a clear error.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use mcp_v8_shared::{HostError, HostErrorKind, ModuleRequest, ModuleSource, MAIN_MODULE_ID};
use oxc_resolver::{ModuleType, ResolveOptions, Resolver};
use sha2::{Digest, Sha256};

use super::host_error;

/// Largest module source read from the modules directory.
const MAX_MODULE_BYTES: u64 = 16 << 20;

use mcp_v8_shared::{MODULES_DIR_PREFIX as DIR_PREFIX, REQUEST_MODULE_PREFIX as REQUEST_PREFIX};

/// Most cached sources.
const CACHE_ENTRIES: usize = 4096;

/// One cached file.
struct Cached {
    len: u64,
    mtime: Option<SystemTime>,
    source: Arc<ModuleSource>,
}

/// Resolution and the source cache, shared by all executions.
pub struct ModuleLoader {
    /// The canonical modules directory.
    dir: Option<PathBuf>,
    /// Node-style resolver (it caches package.json reads).
    resolver: Arc<Resolver>,
    /// Path -> source.
    cache: Arc<Mutex<HashMap<PathBuf, Cached>>>,
}

fn not_found(message: String) -> HostError {
    host_error(HostErrorKind::NotFound, message)
}

/// `a/b/../c` -> `a/c`; `None` if it climbs above the root.
fn normalise(path: &Path) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(p) => parts.push(p.to_str()?),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts.join("/"))
}

/// The request's `modules` keyed by normalised path (`./a/b.js` -> `a/b.js`).
pub fn normalise_request_modules(
    modules: HashMap<String, String>,
) -> Result<HashMap<String, String>, String> {
    modules
        .into_iter()
        .map(|(key, source)| {
            let path = normalise(Path::new(&key))
                .filter(|p| !p.is_empty())
                .ok_or_else(|| format!("modules: {key:?} is not a relative path like ./util.js"))?;
            Ok((path, source))
        })
        .collect()
}

/// The request's module paths, for an error message.
fn known(modules: &HashMap<String, String>) -> String {
    if modules.is_empty() {
        return "it gave none".into();
    }
    let mut names: Vec<String> = modules.keys().map(|k| format!("./{k}")).collect();
    names.sort();
    names.truncate(10);
    names.join(", ")
}

fn is_relative(specifier: &str) -> bool {
    specifier.starts_with("./") || specifier.starts_with("../")
}

/// Whether the source uses ES module syntax at all.
fn looks_esm(source: &str) -> bool {
    source.lines().any(|line| {
        let line = line.trim_start();
        line.starts_with("export ")
            || line.starts_with("export{")
            || line.starts_with("import ")
            || line.starts_with("import{")
    })
}

/// Whether the source uses CommonJS (`module.exports`, `exports.x`,
/// `require(...)`).
fn looks_cjs(source: &str) -> bool {
    source.contains("module.exports") || source.contains("exports.") || source.contains("require(")
}

fn module_source(id: String, source: String) -> ModuleSource {
    let sha256 = hex::encode(Sha256::digest(source.as_bytes()));
    ModuleSource { id, source, sha256 }
}

impl ModuleLoader {
    /// A loader over `dir` (canonical), if any.
    pub fn new(dir: Option<PathBuf>) -> ModuleLoader {
        let options = ResolveOptions {
            condition_names: vec!["import".into(), "module".into(), "default".into()],
            main_fields: vec!["module".into(), "main".into()],
            extensions: vec![".js".into(), ".mjs".into(), ".json".into()],
            module_type: true,
            ..ResolveOptions::default()
        };
        ModuleLoader {
            dir,
            resolver: Arc::new(Resolver::new(options)),
            cache: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Resolves and loads `request` for a run with `request_modules`.
    pub async fn load(
        &self,
        request: &ModuleRequest,
        request_modules: &HashMap<String, String>,
    ) -> Result<ModuleSource, HostError> {
        let spec = request.specifier.as_str();
        let referrer = request.referrer.as_str();
        let from_request = referrer == MAIN_MODULE_ID || referrer.starts_with(REQUEST_PREFIX);
        if spec.starts_with("node:") {
            return Err(not_found(format!(
                "'{spec}': Node built-in modules are not available"
            )));
        }
        if spec.contains("://") || spec.starts_with("data:") {
            return Err(not_found(format!(
                "'{spec}': URL imports are not supported"
            )));
        }
        if from_request && is_relative(spec) {
            let base = referrer
                .strip_prefix(REQUEST_PREFIX)
                .and_then(|p| Path::new(p).parent())
                .unwrap_or(Path::new(""));
            let path = normalise(&base.join(spec))
                .ok_or_else(|| not_found(format!("'{spec}' climbs above the request's modules")))?;
            return match request_modules.get(&path) {
                Some(source) => Ok(module_source(
                    format!("{REQUEST_PREFIX}{path}"),
                    source.clone(),
                )),
                None => Err(not_found(format!(
                    "no module {path:?} among the request's modules ({})",
                    known(request_modules)
                ))),
            };
        }
        if spec.starts_with('/') {
            return Err(not_found(format!(
                "'{spec}': absolute paths cannot be imported"
            )));
        }
        let Some(dir) = self.dir.clone() else {
            return Err(not_found(
                "no modules directory is configured (--modules-dir)".to_string(),
            ));
        };
        let base = match referrer.strip_prefix(DIR_PREFIX) {
            Some(rel) => dir
                .join(rel)
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or(dir.clone()),
            None => dir.clone(),
        };
        let resolver = self.resolver.clone();
        let cache = self.cache.clone();
        let spec = spec.to_string();
        tokio::task::spawn_blocking(move || load_from_dir(&resolver, &cache, &dir, &base, &spec))
            .await
            .map_err(|e| host_error(HostErrorKind::Network, format!("module loader: {e}")))?
    }
}

/// Resolves `spec` from `base` inside `dir` and reads it (cached).
fn load_from_dir(
    resolver: &Resolver,
    cache: &Mutex<HashMap<PathBuf, Cached>>,
    dir: &Path,
    base: &Path,
    spec: &str,
) -> Result<ModuleSource, HostError> {
    let resolution = resolver.resolve(base, spec).map_err(|e| {
        not_found(format!(
            "no such package or file in the modules directory ({e})"
        ))
    })?;
    let path = resolution
        .path()
        .canonicalize()
        .map_err(|e| not_found(format!("'{spec}': {e}")))?;
    let rel = path
        .strip_prefix(dir)
        .map_err(|_| {
            host_error(
                HostErrorKind::Denied,
                format!("'{spec}' resolves outside the modules directory"),
            )
        })?
        .to_string_lossy()
        .into_owned();
    let meta = std::fs::metadata(&path).map_err(|e| not_found(format!("'{spec}': {e}")))?;
    if meta.len() > MAX_MODULE_BYTES {
        return Err(host_error(
            HostErrorKind::Limit,
            format!(
                "'{spec}' is {} bytes; modules may be at most {MAX_MODULE_BYTES}",
                meta.len()
            ),
        ));
    }
    let mtime = meta.modified().ok();
    if let Ok(cache) = cache.lock() {
        if let Some(hit) = cache.get(&path) {
            if hit.len == meta.len() && hit.mtime == mtime {
                return Ok((*hit.source).clone());
            }
        }
    }
    let source = std::fs::read_to_string(&path)
        .map_err(|e| not_found(format!("cannot read '{spec}' ({rel}): {e}")))?;
    if rel.ends_with(".json") || resolution.module_type() == Some(ModuleType::Json) {
        return Err(not_found(format!(
            "'{spec}' is JSON; JSON modules are not supported"
        )));
    }
    let commonjs = rel.ends_with(".cjs")
        || (resolution.module_type() != Some(ModuleType::Module)
            && !looks_esm(&source)
            && looks_cjs(&source));
    if commonjs {
        return Err(not_found(format!(
            "{rel} is a CommonJS module; only ES modules can be imported"
        )));
    }
    let module = Arc::new(module_source(format!("{DIR_PREFIX}{rel}"), source));
    if let Ok(mut cache) = cache.lock() {
        if cache.len() >= CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(
            path,
            Cached {
                len: meta.len(),
                mtime,
                source: module.clone(),
            },
        );
    }
    Ok((*module).clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_normalise_and_cannot_climb_out() {
        assert_eq!(
            normalise(Path::new("./a/../b/c.js")).as_deref(),
            Some("b/c.js")
        );
        assert_eq!(normalise(Path::new("../x.js")), None);
        let err = normalise_request_modules(HashMap::from([("/etc/x".to_string(), String::new())]));
        assert!(err.is_err());
    }
}
