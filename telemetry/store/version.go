package store

import sqlite3 "github.com/mattn/go-sqlite3"

// SQLiteVersion is the version of the SQLite library linked in (cgo), which
// `gatewayd -version` prints so a cross build proves the driver is there.
func SQLiteVersion() string {
	v, _, _ := sqlite3.Version()
	return v
}
