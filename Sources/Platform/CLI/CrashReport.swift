#if canImport(Glibc)
import Glibc
#endif

/// What a key holder sees if dokkulite itself crashes while serving an ssh command: one
/// line, never the runtime's backtrace (addresses, paths and frames of a root process are
/// nobody's business over ssh). The details stay on the server, in the journal of sshd's
/// session and the core policy the administrator chose.
package enum CrashReport {
    /// Replaces the handlers of the signals a crash raises with one that writes the line
    /// and exits 70 (EX_SOFTWARE).
    package static func install() {
        for signal in [SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGFPE, SIGABRT] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { _ in
                let line: StaticString = " !     dokkulite stopped on an internal error; the server's administrator can find it in the logs\n"
                _ = write(2, line.utf8Start, line.utf8CodeUnitCount)
                _exit(70)
            }
            sigemptyset(&action.sa_mask)
            // The stack may be what overflowed: run on an alternate one.
            action.sa_flags = Int32(SA_ONSTACK)
            sigaction(signal, &action, nil)
        }
        let size = 64 * 1024
        var stack = stack_t()
        stack.ss_sp = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
        stack.ss_size = size
        stack.ss_flags = 0
        sigaltstack(&stack, nil)
    }
}
