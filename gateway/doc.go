// Package gateway is the talentreg HTTP/JSON gateway: a grpc-gateway
// ServeMux that maps the routes of API.md onto the registry and metrics gRPC
// services, with the HTTP behaviour the contract asks for around it.
//
// What it adds to the generated handlers:
//   - protojson with lowerCamelCase names, enum names and unpopulated fields
//     emitted; unknown JSON fields are rejected with 400 naming the field;
//   - the x-revision gRPC response header as the HTTP header X-Revision;
//     Authorization and X-Request-Id (generated when absent, echoed in the
//     response) forwarded as gRPC metadata, nothing else;
//   - JSON error bodies {"code","message","details"} for every failure:
//     grpc-gateway's code→HTTP table, 413 for bodies over the limit, 404 for
//     unknown routes, 405 for wrong methods, 503 naming the backend that is
//     down; the details always hold a google.rpc.ErrorInfo of domain
//     talentreg (the backend's, or the gateway's own reason for an error it
//     made, such as INVALID_JSON or UNKNOWN_FIELD) and, for a malformed body
//     field or query parameter, a google.rpc.BadRequest naming it;
//   - round-robin over metrics replicas with client-side health checking and
//     a retry of UNAVAILABLE reads, so losing one replica fails no request;
//   - /healthz, /readyz, /metrics and /openapi.json;
//   - fast paths for the hottest routes, GET /v1/entities/{id} and GET
//     /v1/summary, that call the backend directly, write the JSON with an
//     append encoder held to protojson by tests, and answer exactly as the
//     generated handler; the entity's is read from the registry's answer in
//     place, without decoding it into a message (entitywire.go).
//
// The command in cmd/gateway wires it to flags and signals.
package gateway
