// Package auth decides who a gRPC caller is and whether it may call a
// method: authentication by JWT bearer tokens (verified against issuers'
// JWKS), static bearer tokens (a file of token hashes) and TLS client
// certificates; authorization by permissions declared once per RPC in the
// protos (option talentreg.auth.v1.access) and roles bound in one config
// file. One pair of interceptors enforces both, default deny.
//
// The services decide; the gateway only forwards the HTTP Authorization
// header and the client's address. A call through a trusted proxy (a
// certificate principal marked proxy in the config) is authenticated by the
// token it forwards, never by the proxy's own identity.
package auth
