package harness

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"talentreg/bench/etcd"
	"talentreg/bench/proc"
)

// startEtcdStacks starts, for every size of etcdSizes, the read stack of
// the registry on its etcd backend: an etcd cluster with the limits the
// registry needs, a registry on it loaded with the read data set through
// Import, and a gateway in front of it (no metrics backend: those cases
// read entities). The imports run side by side: an import into etcd waits
// on round trips far more than on CPU. Whatever fails makes the cases that
// need it skip, saying why.
func (e *env) startEtcdStacks(ctx context.Context) {
	if !e.cfg.EtcdBackend {
		e.markUnavailable(compEtcdBackend, "disabled (-etcd-backend=false)")
	} else if why := e.missing([]string{compEtcdBin, compRegistryBin}); why != "" {
		e.markUnavailable(compEtcdBackend, why)
	}
	down := func(n int, why string) {
		e.markUnavailable(compRegistryEtcd(n), why)
		e.markUnavailable(compGatewayEtcd(n), why)
	}
	var stacks []*etcdStack
	for _, n := range etcdSizes {
		if why := e.missing([]string{compEtcdBackend}); why != "" {
			down(n, why)
			continue
		}
		st, err := e.startEtcdStack(ctx, n)
		if err != nil {
			down(n, fmt.Sprintf("registry on etcd (%s): %v", members(n), err))
			continue
		}
		stacks = append(stacks, st)
	}
	if len(stacks) == 0 {
		return
	}
	if e.mainData == nil { // the registry on bbolt did not run
		e.mainData = buildImport(e.cfg.Entities, e.cfg.Groups, 1)
	}
	var wg sync.WaitGroup
	for _, st := range stacks {
		wg.Go(func() {
			st.imported, st.importErr = runImport(ctx, plain(st.registryAddr), e.mainData)
			if st.importErr == nil && st.imported.failed > 0 {
				st.importErr = fmt.Errorf("%d items failed, first: %s", st.imported.failed, st.imported.firstError)
			}
		})
	}
	wg.Wait()
	for _, st := range stacks {
		n := len(st.cluster.Members)
		if err := st.importErr; err != nil {
			st.registry.Stop(5 * time.Second)
			st.cluster.Stop(5 * time.Second)
			down(n, fmt.Sprintf("registry on etcd (%s): import of the read data set: %v", members(n), err))
			continue
		}
		e.onEtcd[n] = st
		e.logf("registry%s: read data set imported in %v: %d items (%.0f items/s), revision %d",
			onEtcd(n), st.imported.elapsed.Round(time.Millisecond), e.mainData.items, float64(e.mainData.items)/st.imported.elapsed.Seconds(), st.imported.revision)
		if why := e.missing([]string{compGateway}); why != "" {
			e.markUnavailable(compGatewayEtcd(n), why)
			continue
		}
		name := "gateway" + onEtcd(n)
		gw, haddr, err := e.startGateway(ctx, name, st.registryAddr, "")
		if err != nil {
			e.markUnavailable(compGatewayEtcd(n), name+": "+err.Error())
			continue
		}
		st.gateway, st.httpAddr = gw, haddr
		e.logf("%s: %s (pid %d)", name, haddr, gw.PID)
	}
}

// startEtcdStack starts an n-member cluster and an empty registry on it.
func (e *env) startEtcdStack(ctx context.Context, n int) (*etcdStack, error) {
	name := "etcd-read" + fmt.Sprint(n)
	c, err := etcd.Start(ctx, e.g, e.etcdBin, name, filepath.Join(e.work, name), n, etcd.RegistryLimits, e.cfg.ReadyTimeout)
	if err != nil {
		return nil, err
	}
	regName := "registry" + onEtcd(n)
	reg, addr, err := e.startRegistryOn(ctx, regName, etcdStore(c)...)
	if err != nil {
		c.Stop(5 * time.Second)
		return nil, err
	}
	e.logf("%s: %s (pid %d) on %s, pids %v", regName, addr, reg.PID, members(n), c.PIDs())
	return &etcdStack{cluster: c, registry: reg, registryAddr: addr}, nil
}

// startFreshOnEtcd starts a fresh n-member cluster and a registry named
// name on it, for one round of a write case; stop stops both.
func (e *env) startFreshOnEtcd(ctx context.Context, name, dir string, n int) (reg *proc.Process, addr string, c *etcd.Cluster, stop func(), err error) {
	c, err = etcd.Start(ctx, e.g, e.etcdBin, "etcd-"+name, dir, n, etcd.RegistryLimits, e.cfg.ReadyTimeout)
	if err != nil {
		return nil, "", nil, nil, err
	}
	reg, addr, err = e.startRegistryOn(ctx, name, etcdStore(c)...)
	if err != nil {
		c.Stop(5 * time.Second)
		return nil, "", nil, nil, err
	}
	return reg, addr, c, func() {
		reg.Stop(10 * time.Second)
		c.Stop(10 * time.Second)
	}, nil
}
