// The JSON shapes the client reads: flowersec v1's channel-init grant and
// direct connect info.

/** One endpoint's grant for a relay channel (flowersec's `ChannelInitGrant`). */
export interface ChannelInitGrant {
  tunnel_url: string;
  channel_id: string;
  channel_init_expire_at_unix_s: number;
  idle_timeout_seconds: number;
  /** 1 client, 2 server. */
  role: number;
  token: string;
  e2ee_psk_b64u: string;
  allowed_suites: number[];
  /** 1 x25519, 2 p256. */
  default_suite: number;
}

/** What `corridor serve --listen` prints as `direct_info`. */
export interface DirectConnectInfo {
  ws_url: string;
  channel_id: string;
  e2ee_psk_b64u: string;
  channel_init_expire_at_unix_s: number;
  default_suite: number;
}
