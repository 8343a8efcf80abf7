package config

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// Set puts value at a dotted path of mapping keys ("web.socket") in a YAML
// document, adding missing keys, so tools (the lab, head office) can edit a
// config file without losing its comments. The replaced node's line comment
// stays when value has none.
func Set(doc *yaml.Node, path string, value *yaml.Node) error {
	n := doc
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	keys := strings.Split(path, ".")
	for i, k := range keys {
		if n.Kind != yaml.MappingNode {
			return fmt.Errorf("%s: %s is not a mapping", path, strings.Join(keys[:i], "."))
		}
		var next *yaml.Node
		for j := 0; j+1 < len(n.Content); j += 2 {
			if n.Content[j].Value == k {
				next = n.Content[j+1]
				break
			}
		}
		if next == nil {
			next = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k}, next)
		}
		n = next
	}
	comment := n.LineComment
	*n = *value
	if n.LineComment == "" {
		n.LineComment = comment
	}
	return nil
}

// Scalar is a plain string scalar node for Set.
func Scalar(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: v} }
