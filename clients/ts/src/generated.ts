// Generated from corridor's Rust definitions by crates/corridor-cli/tests/ts_types.rs: do not edit.
// Regenerate with: CORRIDOR_BLESS=1 cargo test -p corridor-cli --test ts_types

/**
 * One endpoint's grant for a channel.
 */
export type ChannelInitGrant = { 
/**
 * WebSocket URL of the relay.
 */
tunnel_url: string, 
/**
 * Channel shared by both endpoints.
 */
channel_id: string, 
/**
 * Unix time by which the E2EE handshake must be done.
 */
channel_init_expire_at_unix_s: number, 
/**
 * Seconds of silence after which the relay closes the channel.
 */
idle_timeout_seconds: number, 
/**
 * The role this grant admits as: 1 client, 2 server.
 */
role: number, 
/**
 * The role's single-use attach token.
 */
token: string, 
/**
 * The 32-byte pre-shared key both endpoints authenticate the handshake with.
 */
e2ee_psk_b64u: string, 
/**
 * Suites the endpoints may use: 1 fsec1 X25519, 2 fsec1 P-256, 0x4E01 noise.
 */
allowed_suites: number[], 
/**
 * The suite the client proposes.
 */
default_suite: number, };

/**
 * What a client needs to reach an endpoint directly, without a relay: in
 * flowersec v1's `DirectConnectInfo` JSON shape.
 */
export type DirectInfo = { 
/**
 * WebSocket URL the endpoint listens on.
 */
ws_url: string, 
/**
 * The channel id bound into the handshake.
 */
channel_id: string, 
/**
 * The 32-byte pre-shared key, base64url.
 */
e2ee_psk_b64u: string, 
/**
 * Unix time by which the handshake must be done.
 */
channel_init_expire_at_unix_s: number, 
/**
 * The suite the client proposes: 1 X25519, 2 P-256.
 */
default_suite: number, };

/**
 * What `ping` answers.
 */
export type Pong = { 
/**
 * Always true.
 */
pong: boolean, };

/**
 * What `info` reports.
 */
export type Info = { 
/**
 * The software answering.
 */
name: string, 
/**
 * Its version.
 */
version: string, 
/**
 * Stream kinds the endpoint accepts.
 */
streams: Array<string>, };

/** The RPC type ids and stream kind every corridor endpoint serves (`corridor::builtin`). */
export const BUILTIN = { ping: 1, echo: 2, info: 3, whoami: 4, echoStream: "echo" } as const;
