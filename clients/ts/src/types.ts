// The JSON shapes the client reads, generated from corridor's Rust types
// (src/generated.ts, checked by crates/corridor-cli/tests/ts_types.rs).

export type { ChannelInitGrant, DirectInfo as DirectConnectInfo, Info, Pong } from "./generated.js";
export { BUILTIN } from "./generated.js";
