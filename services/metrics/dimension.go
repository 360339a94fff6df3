package metrics

import (
	"fmt"
	"strings"

	"talentreg/platform/clip"
)

// Dimension names a breakdown: what the rows are keyed by.
type Dimension string

// Dimensions. For the entity dimensions (EntityKind, Region, Industry) a row
// counts the entities with the value and the talent records whose subject is
// such an entity; an entity without region or industries is counted under
// the empty key, and an entity with several industries under each. For
// GroupField a row counts the groups in the field, their distinct members
// and the records whose subject is such a group. For Program and Period a
// row counts the talent records with the value.
const (
	DimensionEntityKind Dimension = "entityKind"
	DimensionRegion     Dimension = "region"
	DimensionIndustry   Dimension = "industry"
	DimensionGroupField Dimension = "groupField"
	DimensionProgram    Dimension = "program"
	DimensionPeriod     Dimension = "period"
)

// Dimensions lists every dimension, in the order of the API.
var Dimensions = []Dimension{
	DimensionEntityKind, DimensionRegion, DimensionIndustry,
	DimensionGroupField, DimensionProgram, DimensionPeriod,
}

// ParseDimension returns the dimension named s. An unknown name is an
// INVALID_ARGUMENT *Error for field "dimension" listing the valid names.
func ParseDimension(s string) (Dimension, error) {
	for _, d := range Dimensions {
		if string(d) == s {
			return d, nil
		}
	}
	names := make([]string, len(Dimensions))
	for i, d := range Dimensions {
		names[i] = string(d)
	}
	return "", InvalidField("dimension", ReasonInvalidDimension,
		fmt.Sprintf("%s is not a dimension; want one of %s", clip.Quote(s), strings.Join(names, ", ")))
}
