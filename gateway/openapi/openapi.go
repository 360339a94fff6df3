// Package openapi embeds the OpenAPI v2 document of the whole talentreg HTTP
// surface. The document is generated from the protos by protoc-gen-openapiv2
// (`make generate`); this file is hand-written and survives regeneration.
package openapi

import _ "embed"

// Document is talentreg.swagger.json: one merged OpenAPI v2 (Swagger 2.0)
// document covering the registry and metrics routes.
//
//go:embed talentreg.swagger.json
var Document []byte
