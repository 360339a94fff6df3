// Package healthcheck is the `healthcheck` subcommand of every talentreg
// binary: it asks a running service on this host whether it serves and
// exits 0 if it does, 1 if not (or unreachable), 2 for bad flags. Container
// HEALTHCHECKs and Kubernetes exec probes run it, so images need no other
// probe binary.
//
// gRPC services are asked with grpc.health.v1 Check (the service name in
// --service, empty for the whole server); the gateway with GET --url,
// healthy on 200. With --ca it speaks TLS, verifying the server's
// certificate against that CA under --server-name, and presents --cert and
// --key when the server asks for a client certificate.
package healthcheck

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"talentreg/platform/command"
)

// Target says what a binary's healthcheck asks by default.
type Target struct {
	// GRPCAddr is the gRPC address to ask (registry, metrics); empty for
	// an HTTP service.
	GRPCAddr string
	// Service is the grpc.health.v1 service name to ask about.
	Service string
	// HTTPAddr and Path make an HTTP service's URL (gateway).
	HTTPAddr, Path string
}

// Run is the subcommand: args are its flags, target the binary's defaults.
// A listen address with an unspecified host (":9090", "0.0.0.0:9090") is
// asked on loopback. The addresses come from the service's own
// environment variable when set (TALENTREG_GRPC_ADDR, TALENTREG_HTTP_ADDR),
// so a container configured by environment needs no flags here.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, target Target) error {
	if v := getenv("TALENTREG_GRPC_ADDR"); v != "" && target.GRPCAddr != "" {
		target.GRPCAddr = v
	}
	if v := getenv("TALENTREG_HTTP_ADDR"); v != "" && target.HTTPAddr != "" {
		target.HTTPAddr = v
	}
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", loopback(target.GRPCAddr), "gRPC address to ask (grpc.health.v1)")
	service := fs.String("service", target.Service, "grpc.health.v1 service name; empty asks about the whole server")
	defURL := ""
	if target.HTTPAddr != "" {
		defURL = "http://" + loopback(target.HTTPAddr) + target.Path
	}
	rawURL := fs.String("url", defURL, "HTTP URL to GET instead of a gRPC check; healthy on 200")
	timeout := fs.Duration("timeout", 3*time.Second, "how long the check may take")
	ca := fs.String("ca", "", "speak TLS, verifying the server against this CA file (PEM)")
	serverName := fs.String("server-name", "", "name the server's certificate must hold (with --ca; default: the host asked)")
	cert := fs.String("cert", "", "client certificate file (PEM), presented when the server asks for one")
	key := fs.String("key", "", "client key file (PEM), with --cert")
	if err := fs.Parse(args); err != nil {
		return command.UsageError{Err: err}
	}
	if fs.NArg() > 0 {
		return command.UsageError{Err: fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	if (*cert == "") != (*key == "") {
		return command.UsageError{Err: errors.New("--cert and --key go together")}
	}
	var tlsConf *tls.Config
	if *ca != "" {
		var err error
		if tlsConf, err = clientTLS(*ca, *serverName, *cert, *key); err != nil {
			return command.UsageError{Err: err}
		}
	} else if *cert != "" || *serverName != "" {
		return command.UsageError{Err: errors.New("--cert, --key and --server-name need --ca")}
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	useHTTP := *rawURL != "" && (target.GRPCAddr == "" || flagSet(fs, "url"))
	var err error
	if useHTTP {
		err = checkHTTP(ctx, *rawURL, tlsConf)
	} else {
		err = checkGRPC(ctx, *addr, *service, tlsConf)
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "SERVING")
	return nil
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// loopback replaces an unspecified or empty host with 127.0.0.1.
func loopback(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func clientTLS(caFile, serverName, certFile, keyFile string) (*tls.Config, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("--ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--ca %s: no PEM certificate in it", caFile)
	}
	conf := &tls.Config{RootCAs: pool, ServerName: serverName, MinVersion: tls.VersionTLS12}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("--cert/--key: %w", err)
		}
		conf.Certificates = []tls.Certificate{pair}
	}
	return conf, nil
}

func checkGRPC(ctx context.Context, addr, service string, tlsConf *tls.Config) error {
	creds := insecure.NewCredentials()
	if tlsConf != nil {
		creds = credentials.NewTLS(tlsConf)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return fmt.Errorf("%s: %w", addr, err)
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		return fmt.Errorf("%s: health check: %w", addr, err)
	}
	if st := resp.GetStatus(); st != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("%s: %s%s", addr, st, forService(service))
	}
	return nil
}

func forService(s string) string {
	if s == "" {
		return ""
	}
	return " (service " + s + ")"
}

func checkHTTP(ctx context.Context, rawURL string, tlsConf *tls.Config) error {
	if tlsConf != nil {
		rawURL = strings.Replace(rawURL, "http://", "https://", 1)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return command.UsageError{Err: fmt.Errorf("--url: %w", err)}
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConf}}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s %s", rawURL, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}
