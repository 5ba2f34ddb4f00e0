package pgstore

import (
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// Describe names the database of a URL for logs and messages, without
// credentials: "host:port/database".
func Describe(connString string) string {
	cfg, err := pgconn.ParseConfig(connString)
	if err != nil {
		return "(unparsable URL)"
	}
	return net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))) + "/" + cfg.Database
}

var dsnPassword = regexp.MustCompile(`(^|\s)password\s*=`)

// HasPassword reports whether connString (a URL or key=value form) holds a
// password itself (as opposed to PGPASSWORD or a pgpass file).
func HasPassword(connString string) bool {
	if strings.HasPrefix(connString, "postgres://") || strings.HasPrefix(connString, "postgresql://") {
		u, err := url.Parse(connString)
		if err != nil {
			return strings.Contains(connString, "@") // unparsable: assume the worst
		}
		_, set := u.User.Password()
		return set || u.Query().Has("password")
	}
	return dsnPassword.MatchString(connString)
}
