package bots

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/tickrelay/tickrelay/netcode"
	"github.com/tickrelay/tickrelay/server/arena/arenapb"
	"github.com/tickrelay/tickrelay/transport"
)

// populate fills the zero fields of a client's config with their defaults.
func (c *Config) populate() {
	setDefault(&c.Transport, transport.KindQUIC)
	setDefault(&c.Name, "bot")
	if c.Token == "" {
		// Claims of strings and integers always marshal, so signing cannot fail.
		c.Token, _ = netcode.SignToken(netcode.DevSecret, netcode.Claims{
			Player: c.Name, Expires: time.Now().Add(time.Hour).Unix(),
		})
	}
	setDefault(&c.Redundancy, 4)
	setDefault(&c.MaxSpeed, 120)
	setDefault(&c.MaxBackoff, 5*time.Second)
	setDefault(&c.InterpDelay, 100*time.Millisecond)
	if c.Entity == nil && c.Input == nil {
		c.Entity, c.Input = &arenapb.Entity{}, &arenapb.Input{}
	}
	if _, arena := c.Input.(*arenapb.Input); arena && c.Steer == nil {
		c.Steer = Wander(c.Seed)
	}
}

// validate rejects a populated client config that cannot work, naming the field.
func (c *Config) validate() error {
	switch {
	case c.Addr == "":
		return fmt.Errorf("bots: Config.Addr is required")
	case c.Entity == nil || c.Input == nil:
		return fmt.Errorf("bots: Config.Entity and Config.Input go together: set both or neither")
	case c.Steer == nil && !c.isSpectator():
		return fmt.Errorf("bots: Config.Steer is required with a Config.Input of %T", c.Input)
	case c.Transport != transport.KindQUIC && c.Transport != transport.KindWebTransport:
		return fmt.Errorf("bots: Config.Transport %q: want %q or %q", c.Transport, transport.KindQUIC, transport.KindWebTransport)
	case len(c.Token) > netcode.MaxTokenLength:
		return fmt.Errorf("bots: Config.Token is %d bytes, more than %d", len(c.Token), netcode.MaxTokenLength)
	case c.CertHash != nil && len(c.CertHash) != 32:
		return fmt.Errorf("bots: Config.CertHash is %d bytes, want a 32-byte SHA-256", len(c.CertHash))
	case c.Redundancy < 1 || c.Redundancy > netcode.MaxInputsPerFrame:
		return fmt.Errorf("bots: Config.Redundancy %d out of range 1..%d", c.Redundancy, netcode.MaxInputsPerFrame)
	case c.MaxSpeed < 0:
		return fmt.Errorf("bots: Config.MaxSpeed %v must not be negative", c.MaxSpeed)
	case c.InputRate < 0 || c.InputRate > 1000:
		return fmt.Errorf("bots: Config.InputRate %d out of range 0..1000", c.InputRate)
	case c.MaxBackoff < 0:
		return fmt.Errorf("bots: Config.MaxBackoff %v must not be negative", c.MaxBackoff)
	case c.InterpDelay < 0 || c.InterpDelay > 10*time.Second:
		return fmt.Errorf("bots: Config.InterpDelay %v out of range 0..10s", c.InterpDelay)
	}
	return nil
}

// populate fills the zero fields of a swarm's config with their defaults. The client template is
// populated per bot, since each bot gets its own name.
func (c *SwarmConfig) populate() {
	setDefault(&c.Bots, 1)
	setDefault(&c.Duration, 10*time.Second)
	setDefault(&c.Ramp, min(time.Duration(c.Bots)*time.Millisecond, 2*time.Second))
	setDefault(&c.ProgressEvery, 5*time.Second)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// validate rejects a populated swarm config that cannot work, naming the field; it checks the
// client template as bot 0 would use it.
func (c *SwarmConfig) validate() error {
	switch {
	case c.Bots < 1:
		return fmt.Errorf("bots: SwarmConfig.Bots %d must be positive", c.Bots)
	case c.Duration < 0:
		return fmt.Errorf("bots: SwarmConfig.Duration %v must not be negative", c.Duration)
	case c.Ramp < 0:
		return fmt.Errorf("bots: SwarmConfig.Ramp %v must not be negative", c.Ramp)
	case c.ProgressEvery < 0:
		return fmt.Errorf("bots: SwarmConfig.ProgressEvery %v must not be negative", c.ProgressEvery)
	}
	cc := c.Client
	cc.populate()
	return cc.validate()
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}
