// lookup: Go's resolver asked directly (net.LookupHost, net.LookupAddr),
// what Go tools do before they connect.
//
//	lookup host NAME...     one line per name: "host NAME ADDR..." or "error NAME: <err>"
//	lookup addr IP...       one line per address: "addr IP NAME..." or "error IP: <err>"
//	lookup bench N NAME     N lookups of NAME in a row after 100 unmeasured ones, each
//	                        timed: "bench queries=N answered=N p50_us=X p99_us=X per_s=X"
//
// Each lookup is bounded (10 s).  Exit status 1 when one failed.
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

func lookupHost(name string) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return net.DefaultResolver.LookupHost(ctx, name)
}

func bench(n int, name string) int {
	for i := 0; i < 100; i++ {
		lookupHost(name)
	}
	us := make([]float64, n)
	answered := 0
	start := time.Now()
	for i := 0; i < n; i++ {
		t := time.Now()
		if addrs, err := lookupHost(name); err == nil && len(addrs) > 0 {
			answered++
		}
		us[i] = float64(time.Since(t).Nanoseconds()) / 1e3
	}
	total := time.Since(start).Seconds()
	sort.Float64s(us)
	fmt.Printf("bench queries=%d answered=%d p50_us=%.1f p99_us=%.1f per_s=%.0f\n",
		n, answered, us[n/2], us[int(float64(n-1)*0.99)], float64(n)/total)
	if answered != n {
		return 1
	}
	return 0
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: lookup host NAME... | addr IP... | bench N NAME")
		os.Exit(2)
	}
	rc := 0
	switch os.Args[1] {
	case "host":
		for _, name := range os.Args[2:] {
			addrs, err := lookupHost(name)
			if err != nil {
				fmt.Printf("error %s: %v\n", name, err)
				rc = 1
				continue
			}
			fmt.Printf("host %s %s\n", name, strings.Join(addrs, " "))
		}
	case "addr":
		for _, ip := range os.Args[2:] {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			names, err := net.DefaultResolver.LookupAddr(ctx, ip)
			cancel()
			if err != nil {
				fmt.Printf("error %s: %v\n", ip, err)
				rc = 1
				continue
			}
			fmt.Printf("addr %s %s\n", ip, strings.Join(names, " "))
		}
	case "bench":
		n, err := strconv.Atoi(os.Args[2])
		if err != nil || n < 1 || len(os.Args) != 4 {
			fmt.Fprintln(os.Stderr, "lookup bench N NAME")
			os.Exit(2)
		}
		rc = bench(n, os.Args[3])
	default:
		fmt.Fprintln(os.Stderr, "lookup: unknown command", os.Args[1])
		os.Exit(2)
	}
	os.Exit(rc)
}
