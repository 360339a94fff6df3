package grpcapi

import (
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"talentreg/services/registry"
)

// checkReplay refuses a create whose request id was first used by a
// different request. The store answers a known request id with the first
// result (so a retry is safe); when that result is not what this request
// would have made, the client reused an id for a new write and would
// otherwise be told it succeeded. got is the store's answer: sent itself
// for a fresh create, the first result for a replay. idChosen says whether
// the client chose the id (a server-chosen id differs on every retry).
// defaulted names fields the request left for the server to fill (a
// membership's join time), which the comparison ignores.
func checkReplay(requestID string, sent, got registry.Resource, idChosen bool, defaulted ...protoreflect.Name) error {
	if requestID == "" || got == sent {
		return nil
	}
	a, b := clientFields(sent, idChosen), clientFields(got, idChosen)
	clearFields(a, defaulted...)
	clearFields(b, defaulted...)
	if proto.Equal(a.Interface(), b.Interface()) {
		return nil
	}
	return registry.InvalidField("request_id",
		"was first used by a different request, which created %s: a new request needs a new request id", got.Name())
}

// clientFields returns r as its API message without the fields the server
// sets.
func clientFields(r registry.Resource, idChosen bool) protoreflect.Message {
	m := resourceToProto(r).ProtoReflect()
	oneof := m.Descriptor().Oneofs().ByName("resource")
	inner := m.Get(m.WhichOneof(oneof)).Message()
	clearFields(inner, "create_time", "update_time", "etag")
	if !idChosen {
		clearFields(inner, "name")
	}
	return inner
}

func clearFields(m protoreflect.Message, names ...protoreflect.Name) {
	for _, n := range names {
		if fd := m.Descriptor().Fields().ByName(n); fd != nil {
			m.Clear(fd)
		}
	}
}
