//go:build !linux

package inspect

import "errors"

func (in *Inspector) openAFPacket() (Source, error) {
	return nil, errors.New("AF_PACKET capture needs Linux")
}
