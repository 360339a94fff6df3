package grpcapi

import (
	"slices"
	"strings"

	"go.einride.tech/aip/fieldmask"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"talentreg/services/registry"
)

// outputOnly fields are ignored in update masks (AIP-203): a client that
// sends back a resource it read must not fail because of them.
var outputOnly = map[protoreflect.Name]bool{
	"name": true, "create_time": true, "update_time": true, "etag": true,
}

// normalizeMask checks an update mask against msg's fields, accepting proto
// (display_name) and JSON (displayName) spellings, and returns it in proto
// spelling without output-only fields. An empty mask stays empty (update
// the populated fields); "*" must stand alone.
//
// ignored names further fields to drop, such as a membership's entity, which
// is part of its name and checked by the caller.
func normalizeMask(mask *fieldmaskpb.FieldMask, msg proto.Message, ignored ...protoreflect.Name) (*fieldmaskpb.FieldMask, error) {
	paths := mask.GetPaths()
	if len(paths) == 0 {
		return &fieldmaskpb.FieldMask{}, nil
	}
	if fieldmask.IsFullReplacement(mask) {
		return mask, nil
	}
	fields := msg.ProtoReflect().Descriptor().Fields()
	out := &fieldmaskpb.FieldMask{}
	for _, p := range paths {
		f := fields.ByName(protoreflect.Name(p))
		if f == nil {
			f = fields.ByJSONName(p)
		}
		switch {
		case p == "*":
			return nil, maskError("\"*\" must be the only path")
		case f == nil || strings.Contains(p, "."):
			return nil, maskError("unknown field %q in %s", clipped(p), msg.ProtoReflect().Descriptor().Name())
		case outputOnly[f.Name()] || slices.Contains(ignored, f.Name()):
			continue
		}
		out.Paths = append(out.Paths, string(f.Name()))
	}
	return out, nil
}

func maskError(format string, args ...any) error {
	e := registry.InvalidField("update_mask", format, args...)
	e.Reason = registry.ReasonInvalidUpdateMask
	return e
}

func clipped(s string) string { return registry.Clip(s, 64) }
