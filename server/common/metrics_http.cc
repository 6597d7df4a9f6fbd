#include "server/common/metrics_http.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/common/http_request.h"

namespace promptintern {
namespace {

using Clock = std::chrono::steady_clock;

// After the response, the connection's remaining input is read and dropped for a moment before
// closing: closing a socket with unread input sends a reset that can destroy the response still
// in flight to the client (a client that sent a body or a second request).
constexpr auto kLinger = std::chrono::seconds(2);
// How long accepting pauses when the process is out of file descriptors.
constexpr auto kAcceptBackoff = std::chrono::milliseconds(100);
constexpr int kAcceptsPerWakeup = 64;

Clock::duration ToClock(absl::Duration duration) {
  return std::chrono::duration_cast<Clock::duration>(absl::ToChronoNanoseconds(duration));
}

std::string Response(int status, absl::string_view content_type, absl::string_view body, bool with_body,
                     absl::string_view extra_headers = "") {
  return absl::StrCat("HTTP/1.1 ", status, " ", HttpReasonPhrase(status), "\r\nContent-Type: ", content_type,
                      "\r\nContent-Length: ", body.size(), "\r\nConnection: close\r\n", extra_headers, "\r\n",
                      with_body ? body : "");
}

std::string TextResponse(int status, absl::string_view message, absl::string_view extra_headers = "") {
  return Response(status, "text/plain; charset=utf-8", absl::StrCat(message, "\n"), true, extra_headers);
}

// One non-blocking attempt, for answers sent just before closing.
void SendOnce(int fd, const std::string& data) {
  (void)!::send(fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

}  // namespace

class MetricsHttpServer::Loop {
 public:
  Loop(int listen_fd, int wake_fd, std::shared_ptr<prometheus::Registry> registry, const MetricsHttpOptions& options)
      : listen_fd_(listen_fd), wake_fd_(wake_fd), registry_(std::move(registry)), options_(options) {}

  ~Loop() {
    for (Connection& connection : connections_) {
      if (connection.fd >= 0) ::close(connection.fd);
    }
    if (listen_fd_ >= 0) ::close(listen_fd_);
    ::close(wake_fd_);
  }

  void RequestShutdown(absl::Duration grace) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      shutdown_requested_ = true;
      grace_ = grace;
    }
    const uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof(one));
  }

  void Run() {
    std::vector<pollfd> polled;
    while (true) {
      Clock::time_point now = Clock::now();
      StartDrainingIfAsked(now);
      ExpireDeadlines(now);
      DropClosed();
      if (draining_ && connections_.empty()) return;

      polled.clear();
      polled.push_back({wake_fd_, POLLIN, 0});
      const bool accepting = listen_fd_ >= 0 && now >= accept_resume_;
      polled.push_back({accepting ? listen_fd_ : -1, POLLIN, 0});
      Clock::time_point wake_at = now + std::chrono::seconds(1);
      if (listen_fd_ >= 0 && !accepting) wake_at = std::min(wake_at, accept_resume_);
      if (draining_) wake_at = std::min(wake_at, drain_deadline_);
      for (const Connection& connection : connections_) {
        polled.push_back({connection.fd, static_cast<short>(connection.phase == Phase::kWriting ? POLLOUT : POLLIN), 0});
        wake_at = std::min(wake_at, connection.deadline);
      }
      const auto wait = std::chrono::ceil<std::chrono::milliseconds>(wake_at - now).count();
      if (::poll(polled.data(), polled.size(), static_cast<int>(std::max<int64_t>(wait, 0))) < 0) continue;

      now = Clock::now();
      if (polled[0].revents != 0) {
        uint64_t count = 0;
        (void)!::read(wake_fd_, &count, sizeof(count));
      }
      // polled[2 + i] is connections_[i]; Accept changes the list, so it runs after.
      for (size_t i = 0; i + 2 < polled.size(); ++i) {
        if (polled[i + 2].revents != 0) Handle(connections_[i], polled[i + 2].revents, now);
      }
      if (accepting && polled[1].revents != 0) {
        DropClosed();  // slots freed just now count for the cap
        Accept(now);
      }
    }
  }

 private:
  enum class Phase { kReading, kWriting, kLingering };

  struct Connection {
    int fd = -1;  // -1 once closed
    Phase phase = Phase::kReading;
    std::string received;
    std::string response;
    size_t sent = 0;
    Clock::time_point deadline;
  };

  void DropClosed() {
    connections_.erase(std::remove_if(connections_.begin(), connections_.end(),
                                      [](const Connection& connection) { return connection.fd < 0; }),
                       connections_.end());
  }

  static void Close(Connection& connection) {
    if (connection.fd >= 0) ::close(connection.fd);
    connection.fd = -1;
  }

  void StartDrainingIfAsked(Clock::time_point now) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!shutdown_requested_ || draining_) return;
    draining_ = true;
    drain_deadline_ = now + ToClock(grace_);
    ::close(listen_fd_);
    listen_fd_ = -1;
    for (Connection& connection : connections_) {
      if (connection.phase != Phase::kWriting) Close(connection);
    }
  }

  void ExpireDeadlines(Clock::time_point now) {
    for (Connection& connection : connections_) {
      if (connection.fd < 0) continue;
      if (draining_ && now >= drain_deadline_) {
        Close(connection);
      } else if (now >= connection.deadline) {
        if (connection.phase == Phase::kReading) {
          SendOnce(connection.fd, TextResponse(408, "the request head did not arrive in time"));
        }
        Close(connection);
      }
    }
  }

  void Accept(Clock::time_point now) {
    for (int i = 0; i < kAcceptsPerWakeup; ++i) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) accept_resume_ = now + kAcceptBackoff;
        return;
      }
      if (static_cast<int>(connections_.size()) >= options_.max_connections) {
        SendOnce(fd, TextResponse(503, "too many connections to the metrics endpoint", "Retry-After: 1\r\n"));
        ::close(fd);
        continue;
      }
      Connection connection;
      connection.fd = fd;
      connection.deadline = now + ToClock(options_.header_timeout);
      connections_.push_back(std::move(connection));
    }
  }

  void Handle(Connection& connection, short revents, Clock::time_point now) {
    if (connection.fd < 0) return;
    switch (connection.phase) {
      case Phase::kReading:
        Read(connection, now);
        break;
      case Phase::kWriting:
        if ((revents & (POLLERR | POLLHUP | POLLNVAL)) != 0) {
          Close(connection);
        } else {
          Flush(connection, now);
        }
        break;
      case Phase::kLingering:
        Discard(connection);
        break;
    }
  }

  void Read(Connection& connection, Clock::time_point now) {
    char buffer[4096];
    bool closed_by_peer = false;
    while (connection.received.size() < options_.max_request_bytes) {
      const size_t room = std::min(sizeof(buffer), options_.max_request_bytes - connection.received.size());
      const ssize_t n = ::recv(connection.fd, buffer, room, 0);
      if (n > 0) {
        connection.received.append(buffer, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      closed_by_peer = true;  // end of input, or a reset
      break;
    }
    absl::StatusOr<std::optional<HttpRequestHead>> head =
        ParseHttpRequestHead(connection.received, options_.max_request_bytes);
    if (!head.ok()) {
      Respond(connection, TextResponse(HttpStatusForParseError(head.status()), head.status().message()), now);
    } else if (head->has_value()) {
      Respond(connection, Answer(**head), now);
    } else if (closed_by_peer) {
      Close(connection);  // it left before finishing its request
    }
  }

  std::string Answer(const HttpRequestHead& head) {
    const bool with_body = head.method != "HEAD";
    if (head.method != "GET" && head.method != "HEAD") {
      return TextResponse(405, absl::StrCat("method ", head.method, " is not served; use GET"), "Allow: GET, HEAD\r\n");
    }
    if (head.path != "/metrics") return TextResponse(404, "metrics are at /metrics");
    try {
      const std::string body = prometheus::TextSerializer().Serialize(registry_->Collect());
      return Response(200, "text/plain; version=0.0.4; charset=utf-8", body, with_body);
    } catch (const std::exception& error) {
      return TextResponse(503, absl::StrCat("cannot collect the metrics: ", error.what()));
    }
  }

  void Respond(Connection& connection, std::string response, Clock::time_point now) {
    connection.phase = Phase::kWriting;
    connection.response = std::move(response);
    connection.sent = 0;
    connection.received.clear();
    connection.deadline = now + ToClock(options_.write_timeout);
    Flush(connection, now);
  }

  void Flush(Connection& connection, Clock::time_point now) {
    while (connection.sent < connection.response.size()) {
      const ssize_t n = ::send(connection.fd, connection.response.data() + connection.sent,
                               connection.response.size() - connection.sent, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        connection.sent += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;  // wait for POLLOUT
      Close(connection);
      return;
    }
    ::shutdown(connection.fd, SHUT_WR);
    connection.phase = Phase::kLingering;
    connection.response.clear();
    connection.deadline = std::min(connection.deadline, now + kLinger);
  }

  static void Discard(Connection& connection) {
    char buffer[4096];
    while (true) {
      const ssize_t n = ::recv(connection.fd, buffer, sizeof(buffer), 0);
      if (n > 0) continue;
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      Close(connection);  // the client has seen the end of the response and closed
      return;
    }
  }

  int listen_fd_;
  const int wake_fd_;
  const std::shared_ptr<prometheus::Registry> registry_;
  const MetricsHttpOptions options_;
  std::vector<Connection> connections_;
  Clock::time_point accept_resume_;
  bool draining_ = false;
  Clock::time_point drain_deadline_;

  std::mutex mu_;
  bool shutdown_requested_ = false;  // guarded by mu_
  absl::Duration grace_;             // guarded by mu_
};

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const std::string& address, std::shared_ptr<prometheus::Registry> registry, const MetricsHttpOptions& options) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) return absl::InvalidArgumentError(absl::StrCat("metrics address '", address, "' is not HOST:PORT"));
  std::string host = address.substr(0, colon);
  const std::string port = address.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* resolved = nullptr;
  if (int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &resolved); rc != 0) {
    return absl::InvalidArgumentError(absl::StrCat("metrics address '", address, "': ", gai_strerror(rc)));
  }
  const int fd = ::socket(resolved->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int reuse = 1;
  if (fd < 0 || ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse, sizeof(reuse)) != 0 ||
      ::bind(fd, resolved->ai_addr, resolved->ai_addrlen) != 0 || ::listen(fd, SOMAXCONN) != 0) {
    const std::string reason = std::strerror(errno);
    ::freeaddrinfo(resolved);
    if (fd >= 0) ::close(fd);
    return absl::UnavailableError(absl::StrCat("cannot serve metrics on ", address, ": ", reason));
  }
  ::freeaddrinfo(resolved);
  const int wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd < 0) {
    const std::string reason = std::strerror(errno);
    ::close(fd);
    return absl::UnavailableError(absl::StrCat("cannot serve metrics on ", address, ": eventfd: ", reason));
  }
  sockaddr_storage bound{};
  socklen_t length = sizeof(bound);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length);
  std::unique_ptr<MetricsHttpServer> server(new MetricsHttpServer());
  server->port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                                    : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  server->loop_ = std::make_unique<Loop>(fd, wake_fd, std::move(registry), options);
  server->thread_ = std::thread([loop = server->loop_.get()] { loop->Run(); });
  return server;
}

void MetricsHttpServer::Shutdown(absl::Duration grace) {
  std::call_once(shutdown_once_, [&] {
    loop_->RequestShutdown(grace);
    thread_.join();
  });
}

MetricsHttpServer::~MetricsHttpServer() { Shutdown(absl::ZeroDuration()); }

}  // namespace promptintern
