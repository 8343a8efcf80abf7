package fleet

import (
	"bytes"
	"errors"
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/branchgw/branchgw/gateway/config"
)

// SiteYAML returns the config file with its top-level site id set to site,
// comments kept, and checks the result the way the gateway will, so a push
// that every site would reject fails here first.
func SiteYAML(file []byte, site string) (string, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(file, &doc); err != nil {
		return "", fmt.Errorf("config file: %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return "", errors.New("config file: not a YAML mapping")
	}
	if err := config.Set(&doc, "site", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: site}); err != nil {
		return "", err
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return "", err
	}
	// Files the config names (secrets, certificates) exist on the gateway,
	// not here: only the structure is checked.
	if _, err := config.Parse(buf.Bytes(), "/nonexistent"); err != nil {
		var errs *config.Errors
		if errors.As(err, &errs) {
			for _, e := range errs.List {
				if !bytes.Contains([]byte(e.Msg), []byte("no such file")) {
					return "", fmt.Errorf("for %s: %w", site, err)
				}
			}
		}
	}
	return buf.String(), nil
}
