//! The templates, embedded in the binary: `sdk/templates/<lang>/` for the
//! driver's own files, `sdk/<lang>/` for the SDK it carries.

use super::{File, Language};

/// A file of `sdk/templates/`, with `{{name}}` in it.
macro_rules! template {
    ($path:literal, $source:literal) => {
        File {
            path: $path,
            text: include_str!(concat!("../../sdk/templates/", $source)),
            executable: false,
            templated: true,
        }
    };
    ($path:literal, $source:literal, exec) => {
        File {
            path: $path,
            text: include_str!(concat!("../../sdk/templates/", $source)),
            executable: true,
            templated: true,
        }
    };
}

/// A file of an SDK, copied as it is.
macro_rules! sdk {
    ($path:literal, $source:literal) => {
        File { path: $path, text: include_str!(concat!("../../sdk/", $source)), executable: false, templated: false }
    };
}

/// Every language `rtt driver new` writes, in `--help` order.
pub static LANGUAGES: &[Language] = &[
    Language {
        name: "python",
        files: &[template!("driver", "python/driver", exec), sdk!("rtt_driver.py", "python/rtt_driver.py")],
        builds: false,
        grants: &[],
        needs: "Python 3.8 or later, standard library only",
        customise: "write a class with `stage`, `commit`, `abort`, `read` and `healthy` (see `DirBackend` in `rtt_driver.py`) and pass it to `Driver` in `driver`.",
    },
    Language {
        name: "node",
        files: &[
            template!("driver", "node/driver", exec),
            template!("package.json", "node/package.json"),
            sdk!("rtt_driver.js", "node/rtt_driver.js"),
            sdk!("rtt_driver.d.ts", "node/rtt_driver.d.ts"),
        ],
        builds: false,
        grants: &[],
        needs: "Node.js 18 or later, no packages",
        customise: "write an object with `stage`, `commit`, `abort`, `read` and `healthy` (see `DirBackend` in `rtt_driver.js`) and pass it to `Driver` in `driver`.",
    },
    Language {
        name: "typescript",
        files: &[
            template!("driver.ts", "typescript/driver.ts"),
            template!("driver", "typescript/driver", exec),
            template!("build", "typescript/build", exec),
            template!("package.json", "typescript/package.json"),
            template!("tsconfig.json", "typescript/tsconfig.json"),
            sdk!("rtt_driver.js", "node/rtt_driver.js"),
            sdk!("rtt_driver.d.ts", "node/rtt_driver.d.ts"),
        ],
        builds: true,
        grants: &[],
        needs: "Node.js 18 or later; `./build` installs TypeScript with npm",
        customise: "write a class implementing `Backend` (types in `rtt_driver.d.ts`) and pass it to `Driver` in `driver.ts`.",
    },
    Language {
        name: "bash",
        files: &[template!("driver", "bash/driver", exec)],
        builds: false,
        grants: &["exec"],
        needs: "bash, jq and coreutils (`sync FILE`)",
        customise: "replace the file operations in `do_prepare`, `do_commit`, `do_abort` and `do_rx`.",
    },
    Language {
        name: "go",
        files: &[
            template!("main.go", "go/main.go"),
            template!("go.mod", "go/go.mod"),
            template!("build", "go/build", exec),
            sdk!("rttdriver/driver.go", "go/driver.go"),
            sdk!("rttdriver/params.go", "go/params.go"),
            sdk!("rttdriver/files.go", "go/files.go"),
            sdk!("rttdriver/dir.go", "go/dir.go"),
        ],
        builds: true,
        grants: &[],
        needs: "Go 1.19 or later, standard library only",
        customise: "write a type implementing `rttdriver.Backend` (see `DirBackend` in `rttdriver/dir.go`) and pass it to `rttdriver.Open` in `main.go`.",
    },
    Language {
        name: "rust",
        files: &[
            template!("Cargo.toml", "rust/Cargo.toml"),
            template!("src/main.rs", "rust/src/main.rs"),
            template!("build", "rust/build", exec),
            sdk!("rtt-driver/Cargo.toml", "rust/Cargo.toml"),
            sdk!("rtt-driver/src/lib.rs", "rust/src/lib.rs"),
            sdk!("rtt-driver/src/dir.rs", "rust/src/dir.rs"),
            sdk!("rtt-driver/src/engine.rs", "rust/src/engine.rs"),
            sdk!("rtt-driver/src/framing.rs", "rust/src/framing.rs"),
            sdk!("rtt-driver/src/fsx.rs", "rust/src/fsx.rs"),
            sdk!("rtt-driver/src/protocol.rs", "rust/src/protocol.rs"),
            sdk!("rtt-driver/src/serve.rs", "rust/src/serve.rs"),
        ],
        builds: true,
        grants: &[],
        needs: "Rust 1.89 or later; `./build` fetches serde, serde_json and thiserror with cargo",
        customise: "write a type implementing `rtt_driver::Backend` (see `DirBackend` in `rtt-driver/src/dir.rs`) and pass it to `Driver::open` in `src/main.rs`.",
    },
    Language {
        name: "java",
        files: &[
            template!("Main.java", "java/Main.java"),
            template!("build", "java/build", exec),
            template!("driver", "java/driver", exec),
            sdk!("rtt/driver/Backend.java", "java/src/main/java/rtt/driver/Backend.java"),
            sdk!("rtt/driver/DirBackend.java", "java/src/main/java/rtt/driver/DirBackend.java"),
            sdk!("rtt/driver/Driver.java", "java/src/main/java/rtt/driver/Driver.java"),
            sdk!("rtt/driver/Durable.java", "java/src/main/java/rtt/driver/Durable.java"),
            sdk!("rtt/driver/Json.java", "java/src/main/java/rtt/driver/Json.java"),
            sdk!("rtt/driver/Placement.java", "java/src/main/java/rtt/driver/Placement.java"),
            sdk!("rtt/driver/Refusal.java", "java/src/main/java/rtt/driver/Refusal.java"),
        ],
        builds: true,
        grants: &[],
        needs: "a JDK 17 or later (javac and java), no libraries",
        customise: "write a class implementing `rtt.driver.Backend` (see `DirBackend` in `rtt/driver/DirBackend.java`) and pass it to `Driver` in `Main.java`.",
    },
    Language {
        name: "c",
        files: &[
            template!("main.c", "c/main.c"),
            template!("Makefile", "c/Makefile"),
            template!("build", "c/build", exec),
            sdk!("rtt_driver.h", "c/rtt_driver.h"),
            sdk!("rtt_driver.c", "c/rtt_driver.c"),
        ],
        builds: true,
        grants: &[],
        needs: "a C99 compiler and make, no libraries",
        customise: "fill an `rtt_backend` with your own functions (see `rtt_dir_backend` in `rtt_driver.c`) and pass it to `rtt_run` in `main.c`.",
    },
    Language {
        name: "cpp",
        files: &[
            template!("main.cpp", "cpp/main.cpp"),
            template!("Makefile", "cpp/Makefile"),
            template!("build", "cpp/build", exec),
            sdk!("rtt_driver.h", "c/rtt_driver.h"),
            sdk!("rtt_driver.c", "c/rtt_driver.c"),
        ],
        builds: true,
        grants: &[],
        needs: "a C++17 and a C99 compiler and make, no libraries",
        customise: "fill an `rtt_backend` whose functions call your system (a class behind `state` works) and pass it to `rtt_run` in `main.cpp`.",
    },
    Language {
        name: "perl",
        files: &[template!("driver", "perl/driver", exec)],
        builds: false,
        grants: &[],
        needs: "Perl 5.14 or later, core modules only (JSON::PP)",
        customise: "replace `stage`, `commit_host`, `abort_host` and `read_host` in `driver`.",
    },
    Language {
        name: "ruby",
        files: &[template!("driver", "ruby/driver", exec)],
        builds: false,
        grants: &[],
        needs: "Ruby 3.0 or later, standard library only",
        customise: "replace the methods of `DirBackend` in `driver`.",
    },
    Language {
        name: "php",
        files: &[template!("driver", "php/driver", exec)],
        builds: false,
        grants: &[],
        needs: "PHP 8.1 or later (the CLI and its json extension)",
        customise: "replace the methods of `DirBackend` in `driver`.",
    },
    Language {
        name: "lua",
        files: &[template!("driver", "lua/driver", exec)],
        builds: false,
        grants: &[],
        needs: "Lua 5.3 with luaposix and dkjson (Debian: lua5.3, lua-posix, lua-dkjson)",
        customise: "replace the functions of `backend` in `driver`.",
    },
];
