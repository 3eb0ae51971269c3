// corridor's TypeScript client: end-to-end encrypted, multiplexed sessions with
// corridor and flowersec endpoints, through a relay or directly, in browsers
// and Node. See README.md.

export { connectArtifact, connectDirect, connectTunnel, requestGrant, type ArtifactOptions, type ConnectOptions } from "./connect.js";
export { CorridorError, RpcError, type ErrorCode } from "./errors.js";
export { Reconnecting, reconnecting, type ReconnectOptions } from "./reconnect.js";
export type { CallHandler, CallOptions, NotifyHandler, Rpc } from "./rpc.js";
export type { DuplexStream, Session } from "./session.js";
export { BUILTIN, type ChannelInitGrant, type DirectConnectInfo, type Info, type Pong } from "./types.js";
export type { WebSocketConstructor } from "./carrier.js";
export type { StaticIdentity } from "./crypto.js";
export { enroll, generateIdentity, login, publicKeyOf, storedIdentity, type Enrollment, type IdentityServer, type Welcome } from "./identity.js";
