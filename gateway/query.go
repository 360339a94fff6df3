package gateway

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"

	metricsv1 "talentreg/gen/talentreg/metrics/v1"
	registryv1 "talentreg/gen/talentreg/registry/v1"
	"talentreg/platform/clip"
)

// noQueryRoutes are the routes whose request message has no field left
// for the query string: every field is bound by the path or the body
// (GET /v1/entities/{id}, POST /v1/entities:batchCreate, …). The generated
// handlers of these routes do not parse the query at all, so a parameter
// would be silently ignored where every other route refuses it
// (strictQueryParser). Keys are "METHOD pattern", the pattern as
// runtime.Pattern.String writes it; values are the full gRPC method names.
var noQueryRoutes = routesWithoutQuery(
	registryv1.File_talentreg_registry_v1_registry_service_proto.Services(),
	metricsv1.File_talentreg_metrics_v1_metrics_service_proto.Services(),
)

// routesWithoutQuery reads the google.api.http rules of every method of
// services and returns the routes of noQueryRoutes.
func routesWithoutQuery(services ...protoreflect.ServiceDescriptors) map[string]string {
	out := map[string]string{}
	for _, sds := range services {
		for i := range sds.Len() {
			sd := sds.Get(i)
			for j := range sd.Methods().Len() {
				md := sd.Methods().Get(j)
				rule, _ := proto.GetExtension(md.Options(), annotations.E_Http).(*annotations.HttpRule)
				if rule == nil {
					continue
				}
				full := "/" + string(sd.FullName()) + "/" + string(md.Name())
				for _, r := range append([]*annotations.HttpRule{rule}, rule.GetAdditionalBindings()...) {
					if verb, path := ruleRoute(r); verb != "" && !leavesQueryFields(md.Input(), path, r.GetBody()) {
						out[verb+" "+normalizeTemplate(path)] = full
					}
				}
			}
		}
	}
	return out
}

// ruleRoute returns the HTTP method and path template of r.
func ruleRoute(r *annotations.HttpRule) (verb, path string) {
	switch p := r.GetPattern().(type) {
	case *annotations.HttpRule_Get:
		return http.MethodGet, p.Get
	case *annotations.HttpRule_Post:
		return http.MethodPost, p.Post
	case *annotations.HttpRule_Patch:
		return http.MethodPatch, p.Patch
	case *annotations.HttpRule_Put:
		return http.MethodPut, p.Put
	case *annotations.HttpRule_Delete:
		return http.MethodDelete, p.Delete
	}
	return "", ""
}

// templateVar matches a variable of a path template: {field.path} or
// {field.path=segments}.
var templateVar = regexp.MustCompile(`\{([^}=]+)(=[^}]*)?\}`)

// leavesQueryFields reports whether a request of type in, bound by the
// path template and the body rule, has a field left for the query string.
func leavesQueryFields(in protoreflect.MessageDescriptor, path, body string) bool {
	if body == "*" {
		return false
	}
	var bound []string
	for _, m := range templateVar.FindAllStringSubmatch(path, -1) {
		top, _, _ := strings.Cut(m[1], ".")
		bound = append(bound, top)
	}
	for i := range in.Fields().Len() {
		if name := string(in.Fields().Get(i).Name()); name != body && !slices.Contains(bound, name) {
			return true
		}
	}
	return false
}

// normalizeTemplate writes a path template as runtime.Pattern.String does:
// a bare variable {x} as {x=*}.
func normalizeTemplate(path string) string {
	return templateVar.ReplaceAllStringFunc(path, func(v string) string {
		if strings.Contains(v, "=") {
			return v
		}
		return strings.TrimSuffix(v, "}") + "=*}"
	})
}

// refuseQueryWhereUnused is a mux middleware refusing any query parameter
// on the routes of noQueryRoutes, as strictQueryParser does on the others:
// 400 INVALID_QUERY_PARAMETER naming it.
func (g *Gateway) refuseQueryWhereUnused(next runtime.HandlerFunc) runtime.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, pathParams map[string]string) {
		if r.URL.RawQuery == "" {
			next(w, r, pathParams)
			return
		}
		pat, ok := runtime.HTTPPattern(r.Context())
		method, noQuery := noQueryRoutes[r.Method+" "+pat.String()]
		if !ok || !noQuery {
			next(w, r, pathParams)
			return
		}
		values, err := url.ParseQuery(r.URL.RawQuery)
		if err == nil && len(values) == 0 {
			next(w, r, pathParams) // "?" or "?&": nothing to ignore
			return
		}
		if rec, ok := w.(*recorder); ok {
			rec.route = method
		}
		sp := status.New(codes.InvalidArgument, "query parameters are not accepted on this route").Proto()
		sp.Details = []*anypb.Any{errorInfo(ReasonInvalidQueryParameter)}
		if err == nil {
			keys := make([]string, 0, len(values))
			for k := range values {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			msg := "unknown query parameter " + clip.Quote(keys[0]) + ": this route takes none"
			sp.Message = msg
			sp.Details = append(sp.Details, badRequest(clip.String(keys[0], 0), msg))
		}
		writeError(w, g.marsh, httpError{httpStatus: http.StatusBadRequest, st: status.FromProto(sp)}, nil)
	}
}
