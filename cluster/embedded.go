package cluster

import (
	"cmp"
	"errors"
	"fmt"
	"net/url"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
)

// EmbeddedConfig configures an in-process NATS server.
type EmbeddedConfig struct {
	// Host is the host of the client listener. Default "127.0.0.1".
	Host string
	// Port of the client listener. Default: one the kernel picks.
	Port int
	// StoreDir is the JetStream store. Required.
	StoreDir string
	// Name names the server; required in a NATS cluster. Default: NATS's own.
	Name string
	// Cluster, if set, is the NATS cluster's name: the server listens for routes on ClusterPort
	// and connects to Routes. JetStream in a cluster needs routes from the start.
	Cluster string
	// ClusterPort is the port of the route listener. Default: one the kernel picks.
	ClusterPort int
	// Routes are the servers' route URLs (nats-route://host:port), its own among them or not.
	Routes []*url.URL
}

// Embedded starts an in-process NATS server with JetStream, for a one-machine cluster with no
// other install (`tickrelay -nats embedded`) and for tests. Stop it with Shutdown.
func Embedded(cfg EmbeddedConfig) (*natsserver.Server, error) {
	if cfg.StoreDir == "" {
		return nil, errors.New("cluster: EmbeddedConfig.StoreDir is required")
	}
	opts := &natsserver.Options{
		ServerName: cfg.Name, Host: cfg.Host, Port: cfg.Port, JetStream: true, StoreDir: cfg.StoreDir,
		NoLog: true, NoSigs: true,
	}
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	if opts.Port == 0 {
		opts.Port = natsserver.RANDOM_PORT
	}
	if cfg.Cluster != "" {
		opts.Cluster = natsserver.ClusterOpts{Name: cfg.Cluster, Host: opts.Host,
			Port: cmp.Or(cfg.ClusterPort, natsserver.RANDOM_PORT)}
		opts.Routes = cfg.Routes
	}
	ns, err := natsserver.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("cluster: nats server: %w", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("cluster: nats server not ready in 10s")
	}
	return ns, nil
}
