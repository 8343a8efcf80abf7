// Package qos keeps card payments fast while the rest of the store fills
// the uplink. It shapes the active WAN in both directions below the line's
// rate, so the queue that builds under load is on the gateway, where it is
// sorted by class, and not in the modem, where it is one deep FIFO:
//
//   - upload: an HTB tree as the WAN's root qdisc at rate_up less
//     qos.margin_percent, one class per traffic class (pos, interactive,
//     default, bulk, guest), picked by skb->priority, which an nftables
//     forward chain sets (`meta priority set 1:10`) from POS devices (MAC,
//     IP), the payment IP set, port and DSCP rules and the guest subnet;
//     POS packets leave marked DSCP EF; small TCP packets (a download's
//     ACKs) go in interactive, so the store's uploads do not stretch its
//     downloads' round trip;
//   - download: the WAN's ingress is redirected (u32 match-all, act_mirred)
//     to an IFB device whose root is the same HTB tree at rate_down less
//     the margin. The IFB sees packets before conntrack and NAT, so there
//     the classes come from what the wire shows: u32 filters on the source
//     address (the payment IP set), source ports and DSCP;
//   - the WAN probes (Config.Probes) ride in pos both ways: an output
//     chain classifies the gateway's own probes, u32 filters their
//     answers, so a line the store fills still answers its probes and the
//     WAN manager does not take it for a dead one.
//
// Each leaf is fq_codel where the kernel has it, else cake, else a short
// TBF queue (one log line says so). The download side is shaped after the
// modem's queue, so it only works if the senders are held below the line:
// qos.download_margin_percent (20) is wider than the upload's. The TBF
// fallback only drops when full, so it holds loss-based senders; a sender
// that ignores loss (BBR) can keep a queue standing in the modem, which
// only an AQM leaf (fq_codel, cake) signals away. `gwlab bench qos`
// measures both, on the lab's kernel and with fq_codel in `gwlab vm`.
//
// Everything is computed as a desired state (plan.go, nftplan.go),
// printable as tc/nft text for table tests, and applied idempotently
// through small interfaces (apply.go); the Linux implementations use
// github.com/vishvananda/netlink and github.com/google/nftables, never the
// tc or nft commands.
package qos
