//go:build !linux

package web

// sysSampler reports nothing off Linux: the appliance is Linux, and the
// page simply leaves the figures empty elsewhere.
type sysSampler struct{}

func newSysSampler([]string) *sysSampler { return &sysSampler{} }

func (s *sysSampler) sample() System { return System{} }
