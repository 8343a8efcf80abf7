package version

import sqlite3 "github.com/mattn/go-sqlite3"

// SQLite is the version of the SQLite library linked in through cgo; printing
// it proves a cross build carries the driver.
func SQLite() string {
	v, _, _ := sqlite3.Version()
	return v
}
