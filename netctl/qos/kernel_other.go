//go:build !linux

package qos

import "errors"

var errNotLinux = errors.New("qos: shaping needs Linux")

func kernelBackends(int) (func() (TC, func(), error), NFT) {
	return func() (TC, func(), error) { return nil, nil, errNotLinux }, nil
}
