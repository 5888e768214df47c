// Package rules holds ucspi-tcp's access rules: the text syntax tcprules
// reads (ParseRule, Rule.String), the records it expands a rule into
// (Rule.Records), and the lookup tcpserver -x and tcprulescheck make in
// the compiled cdb (Open, DB.Lookup).
package rules
