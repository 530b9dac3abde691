// The socket of an HTTP request's connection, found from the endpoints
// cpp-httplib reports, so a handler that waits without writing (a
// non-streamed completion) can notice that its client went away.
//
// cpp-httplib 0.11 (Debian 12) gives a handler neither the socket nor a
// "connection closed" check, so the socket is looked up among this
// process's descriptors by its two endpoints, which identify one live TCP
// connection (docs/http.md, "Resources and security").
//
// Example:
//   const int fd = FindConnectionSocket(req.local_addr, req.local_port,
//                                       req.remote_addr, req.remote_port);
//   while (waiting) { if (fd >= 0 && PeerHungUp(fd)) { cancel; break; } }
//
// Thread-safe. The descriptor stays owned by cpp-httplib: valid while the
// handler that looked it up runs, never closed here.
#ifndef TRILEMMA_SERVER_HTTP_CONNECTION_SOCKET_H_
#define TRILEMMA_SERVER_HTTP_CONNECTION_SOCKET_H_

#include <string>

namespace trilemma {

// The descriptor of the connected TCP socket whose local end is
// local_addr:local_port and whose peer is remote_addr:remote_port (numeric
// addresses, as getnameinfo(NI_NUMERICHOST) prints them), or -1 when none.
int FindConnectionSocket(const std::string& local_addr, int local_port,
                         const std::string& remote_addr, int remote_port);

// True once the peer has shut down its sending side or the connection
// broke (POLLRDHUP, POLLHUP or POLLERR). Does not read or block.
bool PeerHungUp(int fd);

}  // namespace trilemma

#endif  // TRILEMMA_SERVER_HTTP_CONNECTION_SOCKET_H_
