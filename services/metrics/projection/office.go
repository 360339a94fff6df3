package projection

import (
	"cmp"
	"encoding/binary"
	"slices"
	"strings"
	"time"

	"talentreg/services/metrics"

	registryv1 "talentreg/gen/talentreg/registry/v1"
)

// target is what the projection keeps of a Target: enough to compute its
// progress live.
type target struct {
	name, displayName, scope string
	metric                   int32
	goal                     int64
	deadline                 int64 // Unix ns; 0 when none
}

// putPolicy applies a Policy change: only the pilot flag counts.
func (p *Projection) putPolicy(before, after *registryv1.Policy) {
	name := after.GetName()
	if after == nil {
		name = before.GetName()
	}
	if pilot, ok := p.policies[name]; ok && pilot {
		p.pilots--
	}
	if after == nil {
		delete(p.policies, name)
		return
	}
	p.policies[strings.Clone(name)] = after.GetPilot()
	if after.GetPilot() {
		p.pilots++
	}
}

// putTarget applies a Target change.
func (p *Projection) putTarget(before, after *registryv1.Target) {
	if after == nil {
		delete(p.targets, before.GetName())
		return
	}
	t := &target{
		name:        strings.Clone(after.GetName()),
		displayName: strings.Clone(after.GetDisplayName()),
		scope:       strings.Clone(after.GetScope()),
		metric:      int32(after.GetMetric()),
		goal:        after.GetGoalValue(),
	}
	if d := after.GetDeadline(); d != nil {
		t.deadline = d.AsTime().UnixNano()
	}
	p.targets[t.name] = t
}

// targetValue is the current value of t's metric in its scope. In a group
// scope entity counts are of the group's active members and talents are
// those recorded against the group and against its members; policies are
// not scoped.
func (p *Projection) targetValue(t *target) int64 {
	var g *group
	if id, ok := strings.CutPrefix(t.scope, "groups/"); ok {
		slot, found := p.groupIDs[id]
		if !found || !p.groups[slot].exists {
			return 0
		}
		g = &p.groups[slot]
	}
	cat := func(i int) int64 {
		if g != nil {
			return g.talents[i] + g.memberTalents[i]
		}
		return p.totals.talents[i]
	}
	switch registryv1.TargetMetric(t.metric) {
	case registryv1.TargetMetric_TARGET_METRIC_PLATFORMS_OR_LEADING_ENTERPRISES:
		if g != nil {
			return g.memberPlatforms
		}
		return p.sum.platformsOrLeading
	case registryv1.TargetMetric_TARGET_METRIC_ENTITIES:
		if g != nil {
			return g.memberCount
		}
		return p.sum.entities
	case registryv1.TargetMetric_TARGET_METRIC_GROUP_MEMBERS:
		if g != nil {
			return g.memberCount
		}
		return p.sum.groupMembers
	case registryv1.TargetMetric_TARGET_METRIC_PILOT_POLICIES:
		return p.pilots
	case registryv1.TargetMetric_TARGET_METRIC_POLICIES:
		return int64(len(p.policies))
	case registryv1.TargetMetric_TARGET_METRIC_TALENTS_CULTIVATED:
		return cat(1)
	case registryv1.TargetMetric_TARGET_METRIC_TALENTS_GATHERED:
		return cat(0)
	}
	return 0
}

func (p *Projection) progress(t *target) metrics.TargetProgress {
	cur := p.targetValue(t)
	out := metrics.TargetProgress{
		Target:       t.name,
		DisplayName:  t.displayName,
		Metric:       registryv1.TargetMetric(t.metric).String(),
		GoalValue:    t.goal,
		CurrentValue: cur,
		Scope:        t.scope,
	}
	if t.goal != 0 {
		out.Fraction = float64(cur) / float64(t.goal)
	}
	if t.deadline != 0 {
		out.Deadline = time.Unix(0, t.deadline).UTC()
	}
	return out
}

// TargetProgress returns the progress of every target, ordered by name.
func (p *Projection) TargetProgress() []metrics.TargetProgress {
	out := make([]metrics.TargetProgress, 0, len(p.targets))
	for _, t := range p.targets {
		out = append(out, p.progress(t))
	}
	slices.SortFunc(out, func(a, b metrics.TargetProgress) int { return cmp.Compare(a.Target, b.Target) })
	return out
}

// OneTargetProgress returns the progress of target name, false when there
// is no such target.
func (p *Projection) OneTargetProgress(name string) (metrics.TargetProgress, bool) {
	t, ok := p.targets[name]
	if !ok {
		return metrics.TargetProgress{}, false
	}
	return p.progress(t), true
}

// Table layouts: policies: (name, pilot byte)...; targets: (name,
// display name, scope, metric, goal, deadline)...

func (p *Projection) appendPolicies(b []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(p.policies)))
	for name, pilot := range p.policies {
		b = appendString(b, name)
		var v byte
		if pilot {
			v = 1
		}
		b = append(b, v)
	}
	return b
}

func (p *Projection) restorePolicies(d *decoder) {
	for range d.length() {
		name, pilot := d.string(), d.byte() == 1
		if d.err != nil {
			return
		}
		p.policies[name] = pilot
		if pilot {
			p.pilots++
		}
	}
}

func (p *Projection) appendTargets(b []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(p.targets)))
	for _, t := range p.targets {
		b = appendString(b, t.name)
		b = appendString(b, t.displayName)
		b = appendString(b, t.scope)
		b = binary.AppendVarint(b, int64(t.metric))
		b = binary.AppendVarint(b, t.goal)
		b = binary.AppendVarint(b, t.deadline)
	}
	return b
}

func (p *Projection) restoreTargets(d *decoder) {
	for range d.length() {
		t := &target{name: d.string(), displayName: d.string(), scope: d.string()}
		t.metric, t.goal, t.deadline = int32(d.varint()), d.varint(), d.varint()
		if d.err != nil {
			return
		}
		p.targets[t.name] = t
	}
}
