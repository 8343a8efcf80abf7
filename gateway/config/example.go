package config

import _ "embed"

// Example is the shipped, commented example config (example.yaml).
//
//go:embed example.yaml
var Example []byte
