//! The TypeScript client's wire types are defined once, in Rust: this test
//! renders their declarations with ts-rs and fails when
//! `clients/ts/src/generated.ts` differs. `CORRIDOR_BLESS=1` rewrites it.

use corridor::builtin::{self, Info, Pong};
use corridor_core::grant::{ChannelInitGrant, DirectInfo};
use ts_rs::{Config, TS};

const GENERATED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../clients/ts/src/generated.ts"
);

fn declaration<T: TS>(config: &Config) -> String {
    format!(
        "{}export {}\n",
        T::docs().unwrap_or_default(),
        T::decl(config)
    )
}

fn render() -> String {
    let config = Config::new();
    let mut out = String::from(
        "// Generated from corridor's Rust definitions by crates/corridor-cli/tests/ts_types.rs: do not edit.\n\
         // Regenerate with: CORRIDOR_BLESS=1 cargo test -p corridor-cli --test ts_types\n\n",
    );
    for declaration in [
        declaration::<ChannelInitGrant>(&config),
        declaration::<DirectInfo>(&config),
        declaration::<Pong>(&config),
        declaration::<Info>(&config),
    ] {
        out.push_str(&declaration);
        out.push('\n');
    }
    out.push_str(&format!(
        "/** The RPC type ids and stream kind every corridor endpoint serves (`corridor::builtin`). */\n\
         export const BUILTIN = {{ ping: {}, echo: {}, info: {}, whoami: {}, echoStream: {:?} }} as const;\n",
        builtin::PING,
        builtin::ECHO,
        builtin::INFO,
        builtin::WHOAMI,
        builtin::ECHO_STREAM,
    ));
    out
}

#[test]
fn the_typescript_declarations_match_the_rust_types() {
    let fresh = render();
    if std::env::var_os("CORRIDOR_BLESS").is_some() {
        std::fs::write(GENERATED, &fresh).expect("write generated.ts");
        return;
    }
    let committed = std::fs::read_to_string(GENERATED).unwrap_or_default();
    assert!(
        committed == fresh,
        "clients/ts/src/generated.ts is stale; regenerate it with \
         CORRIDOR_BLESS=1 cargo test -p corridor-cli --test ts_types\n--- expected ---\n{fresh}"
    );
}
