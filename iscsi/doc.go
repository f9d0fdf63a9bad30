// Package iscsi is an iSCSI target (RFC 7143) that serves block devices to
// initiators such as iPXE's sanboot, Linux open-iscsi, Windows and libiscsi.
//
// # Serving
//
// A Server works like net/http's: fill in its fields, then Serve a listener
// or ListenAndServe an address, and Shutdown(ctx) to stop.
//
//	dev, err := iscsi.OpenFile("disk.img", false)
//	...
//	srv := &iscsi.Server{
//		Targets: []*iscsi.Target{{
//			Name:       "iqn.2026-01.org.example:disk",
//			LUNs:       []iscsi.LUN{{Device: dev}},
//			Initiators: []string{"iqn.2026-01.org.example:host1"}, // ACL; empty = all
//			CHAP:       &iscsi.CHAP{User: "host1", Secret: "twelve+bytes"},
//		}},
//		Logger: slog.Default(),
//	}
//	err = srv.ListenAndServe(":3260")
//
// Instead of (or besides) static Targets, Lookup resolves a target per
// initiator name, so a provisioning server can give every machine its own
// disk (a copy-on-write overlay, say) behind the same target name; Discover
// lists such targets for SendTargets. Returning ErrTargetNotFound or
// ErrNotAuthorized chooses the login failure status. OnLogin, OnLogout and
// OnIO hooks report events and per-command metrics.
//
// # Block devices
//
// A LUN serves a Device: ReadAt, WriteAt and Size. Optional interfaces add
// SYNCHRONIZE CACHE and FUA (Syncer), UNMAP and WRITE SAME with UNMAP
// (Discarder, which also turns on thin provisioning in the VPD pages and
// READ CAPACITY(16)), and write protection (ReadOnlyDevice). FileDevice wraps
// an *os.File. Write errors map to sense data: syscall.ENOSPC to DATA
// PROTECT/space allocation failed (07/27/07), os.ErrPermission to write
// protected (07/27/00), others to MEDIUM ERROR (03/0C/00); read errors to
// unrecovered read error (03/11/00).
//
// # Protocol
//
// A connection logs in (security stage with AuthMethod None or CHAP MD5,
// one-way or mutual; operational negotiation of every RFC 7143 key), then
// runs in full feature phase:
//
//   - One reader goroutine decodes PDUs and reads write data straight into
//     the command's pooled buffer; one writer goroutine assigns StatSN and
//     writes PDUs with header and data digests (CRC32C); each command runs
//     on its own goroutine, bounded by the command window.
//   - Commands enter the SCSI layer in CmdSN order; commands outside
//     [ExpCmdSN, MaxCmdSN] are dropped. SIMPLE tasks run concurrently and
//     complete in any order, ORDERED tasks wait for all earlier ones and hold
//     back later ones, HEAD OF QUEUE tasks start at once. MaxCmdSN grows as
//     commands complete, so the window is QueueDepth (default 128).
//   - Writes take immediate data, unsolicited Data-Out (InitialR2T=No, up to
//     FirstBurstLength) and R2T-solicited data (MaxBurstLength per R2T,
//     MaxOutstandingR2T at once). Reads go out as Data-In PDUs no longer than
//     the initiator's MaxRecvDataSegmentLength, with the status in the last
//     PDU when there is no residual.
//   - NOP-Out pings are answered; idle initiators are pinged with NOP-In
//     (never dropped for not answering: iPXE does not). Task management
//     (ABORT TASK, ABORT TASK SET, CLEAR TASK SET, LOGICAL UNIT RESET, TARGET
//     WARM/COLD RESET), Logout, SendTargets discovery and session
//     reinstatement (ErrorRecoveryLevel 0, one connection per session) are
//     supported. Malformed input gets a Reject or closes the connection.
//
// The SCSI layer implements the SPC-4/SBC-3 commands boot initiators and
// operating systems use, including INQUIRY with VPD pages 0x00, 0x80, 0x83
// (NAA 6), 0xB0, 0xB1 and 0xB2, READ CAPACITY(10/16), READ/WRITE(6/10/12/16),
// VERIFY, WRITE AND VERIFY, WRITE SAME, UNMAP, COMPARE AND WRITE, MODE
// SENSE/SELECT, REPORT LUNS, REQUEST SENSE, REPORT SUPPORTED OPERATION CODES
// and PERSISTENT RESERVE IN/OUT. Anything else ends in CHECK CONDITION with
// fixed-format sense, or descriptor format when the initiator sets D_SENSE.
//
// The codec pieces are exported for tools and tests: ReadPDU, DecodePDU and
// AppendPDU frame PDUs; ParseText and AppendText handle login and text
// key=value data; ParseCDB decodes command descriptor blocks.
package iscsi
