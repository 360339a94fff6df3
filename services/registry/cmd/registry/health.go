package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	registryv1 "talentreg/gen/talentreg/registry/v1"
	"talentreg/platform/grpcserver"
	"talentreg/services/registry/grpcapi"
	"talentreg/services/registry/kv"
	"talentreg/services/registry/storeprobe"
)

// storeAvailable registers the gauge of whether the store answers: 1
// until probeStore says otherwise (always, for a store on a local file).
func storeAvailable(reg prometheus.Registerer) prometheus.Gauge {
	available := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "talentreg_registry_store_available", Help: "1 while the store answers (on etcd: the replica's quorum probe), 0 while it is lost and the replica is NOT_SERVING.",
	})
	available.Set(1)
	reg.MustRegister(available)
	return available
}

// probeStore keeps the replica's health in step with its store (see
// package storeprobe) until ctx ends: NOT_SERVING, for the whole server
// and the registry service, while the store is lost, with its watch and
// snapshot streams ended so that consumers resume on another replica.
func probeStore(ctx context.Context, p kv.Pinger, interval time.Duration, srv *grpcserver.Server, api *grpcapi.Server, available prometheus.Gauge, log *slog.Logger) {
	storeprobe.Run(ctx, p, storeprobe.Options{Interval: interval}, func(up bool, err error) {
		setHealth := func(st healthpb.HealthCheckResponse_ServingStatus) {
			srv.Health.SetServingStatus("", st)
			srv.Health.SetServingStatus(registryv1.RegistryService_ServiceDesc.ServiceName, st)
		}
		if up {
			log.Info("the store answers again: serving")
			available.Set(1)
			api.SetStoreAvailable(true)
			setHealth(healthpb.HealthCheckResponse_SERVING)
			return
		}
		log.Error("the store does not answer: not serving until it does", "err", err)
		available.Set(0)
		// Health first, so that consumers whose streams end next are not
		// sent back here.
		setHealth(healthpb.HealthCheckResponse_NOT_SERVING)
		api.SetStoreAvailable(false)
	})
}
