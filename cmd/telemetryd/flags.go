package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// envPrefix is the prefix of every flag's environment twin: --clickhouse-dsn is
// TELEMETRYD_CLICKHOUSE_DSN.
const envPrefix = "TELEMETRYD_"

// envName is the environment variable of a flag.
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(name string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	return fs
}

// parseFlags parses args, then fills every flag not given on the command line from its
// environment twin. Flags win over the environment. Every unknown flag and bad value is
// reported, together: flag.FlagSet stops at the first one, so parsing goes on after it.
func parseFlags(fs *flag.FlagSet, args []string, lookupEnv func(string) (string, bool)) error {
	var errs []error
	usage := fs.Usage
	defer func() { fs.Usage = usage }()
	for {
		err := fs.Parse(args)
		if err == nil {
			break
		}
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		errs = append(errs, err)
		fs.Usage = func() {} // the flags' help is printed once, at the first mistake
		rest := fs.Args()
		if len(rest) == len(args) { // a malformed flag ("---x") is not consumed: skip it
			rest = rest[1:]
		}
		args = rest
	}
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected argument %q (flags are written --name=value)", fs.Arg(0)))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] {
			return
		}
		v, ok := lookupEnv(envName(f.Name))
		if !ok {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Errorf("%s: invalid value for --%s: %w", envName(f.Name), f.Name, err))
		}
	})
	return errors.Join(errs...)
}

// osLookupEnv is the process environment.
var osLookupEnv = os.LookupEnv
