// The /metrics listener: its answers, its per-connection deadlines and connection cap (in process,
// with short limits), and through both real services: a scrape completes while a slowloris client
// and 500 idle connections are held, and SIGTERM ends the service while they still are.
#include "server/common/metrics_http.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <prometheus/counter.h>
#include <prometheus/registry.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "tests/status_matchers.h"
#include "tests/test_support.h"

namespace promptintern {
namespace {

using ::promptintern::testing::BinaryDir;
using ::promptintern::testing::ConnectLoopback;
using ::promptintern::testing::HttpExchange;
using ::promptintern::testing::HttpGet;
using ::promptintern::testing::MakeTempDir;
using ::promptintern::testing::ServiceProcess;

std::shared_ptr<prometheus::Registry> RegistryWithCounter() {
  auto registry = std::make_shared<prometheus::Registry>();
  prometheus::BuildCounter().Name("test_scrapes_total").Help("A counter").Register(*registry).Add({}).Increment(3);
  return registry;
}

std::unique_ptr<MetricsHttpServer> StartServer(const MetricsHttpOptions& options = {},
                                               std::shared_ptr<prometheus::Registry> registry = RegistryWithCounter()) {
  auto server = MetricsHttpServer::Start("127.0.0.1:0", std::move(registry), options);
  EXPECT_THAT(server, IsOk());
  return server.ok() ? std::move(server).value() : nullptr;
}

std::string StatusLine(const std::string& response) { return response.substr(0, response.find("\r\n")); }

// Reads until the peer closes or `limit` passes; true when it closed.
bool ReadsToClose(int fd, std::chrono::milliseconds limit, std::string* received = nullptr) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  char buffer[65536];
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd readable{fd, POLLIN, 0};
    if (left.count() <= 0 || poll(&readable, 1, static_cast<int>(left.count())) <= 0) return false;
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n <= 0) return true;
    if (received != nullptr) received->append(buffer, static_cast<size_t>(n));
  }
}

TEST(MetricsHttpServerTest, AnswersEachKindOfRequest) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  const int port = server->port();
  const std::string ok = HttpExchange(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(StatusLine(ok), "HTTP/1.1 200 OK");
  EXPECT_NE(ok.find("Content-Type: text/plain; version=0.0.4"), std::string::npos) << ok;
  EXPECT_NE(ok.find("\ntest_scrapes_total 3"), std::string::npos) << ok;

  const std::string head = HttpExchange(port, "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(StatusLine(head), "HTTP/1.1 200 OK");
  EXPECT_EQ(head.substr(head.find("\r\n\r\n") + 4), "") << "HEAD gets no body";
  EXPECT_NE(head.find("Content-Length: " + std::to_string(ok.size() - ok.find("\r\n\r\n") - 4)), std::string::npos);

  EXPECT_EQ(StatusLine(HttpExchange(port, "GET /metrics?x=1 HTTP/1.0\r\n\r\n")), "HTTP/1.1 200 OK");
  EXPECT_EQ(StatusLine(HttpExchange(port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")), "HTTP/1.1 404 Not Found");
  const std::string post = HttpExchange(port, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab");
  EXPECT_EQ(StatusLine(post), "HTTP/1.1 405 Method Not Allowed");
  EXPECT_NE(post.find("Allow: GET, HEAD\r\n"), std::string::npos);
  const std::string bad = HttpExchange(port, "GET /metrics HTTP/1.1\r\n\r\n");
  EXPECT_EQ(StatusLine(bad), "HTTP/1.1 400 Bad Request");
  EXPECT_NE(bad.find("without a Host header"), std::string::npos) << "the body says why";
  EXPECT_EQ(StatusLine(HttpExchange(port, "\x16\x03\x01\x02\x00")), "HTTP/1.1 400 Bad Request");
  EXPECT_EQ(StatusLine(HttpExchange(port, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")), "HTTP/1.1 505 HTTP Version Not Supported");
  EXPECT_EQ(StatusLine(HttpExchange(port, "GET /metrics HTTP/1.1\r\nX: " + std::string(9000, 'a'))),
            "HTTP/1.1 431 Request Header Fields Too Large");
}

TEST(MetricsHttpServerTest, AClientTricklingItsRequestGets408AtTheHeaderDeadline) {
  MetricsHttpOptions options;
  options.header_timeout = absl::Milliseconds(300);
  auto server = StartServer(options);
  ASSERT_NE(server, nullptr);
  const int fd = ConnectLoopback(server->port());
  ASSERT_GE(fd, 0);
  const std::string request = "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n";
  std::string received;
  bool closed = false;
  // One byte every 50 ms would take 2 s; the deadline counts from the accept, not from the last byte.
  for (size_t i = 0; i < request.size() && !closed; ++i) {
    if (send(fd, &request[i], 1, MSG_NOSIGNAL) != 1) break;
    closed = ReadsToClose(fd, std::chrono::milliseconds(50), &received);
  }
  if (!closed) closed = ReadsToClose(fd, std::chrono::seconds(10), &received);
  close(fd);
  EXPECT_TRUE(closed);
  EXPECT_EQ(StatusLine(received), "HTTP/1.1 408 Request Timeout");
}

TEST(MetricsHttpServerTest, ConnectionsBeyondTheCapGet503AndAFreedSlotServesAgain) {
  MetricsHttpOptions options;
  options.max_connections = 2;
  auto server = StartServer(options);
  ASSERT_NE(server, nullptr);
  const int first = ConnectLoopback(server->port());
  const int second = ConnectLoopback(server->port());
  ASSERT_GE(first, 0);
  ASSERT_GE(second, 0);
  // The server accepts in order: once a third connection is refused, both idle ones hold slots.
  std::string refused;
  for (int i = 0; i < 100 && StatusLine(refused) != "HTTP/1.1 503 Service Unavailable"; ++i) {
    refused = HttpExchange(server->port(), "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  }
  EXPECT_EQ(StatusLine(refused), "HTTP/1.1 503 Service Unavailable");
  EXPECT_NE(refused.find("Retry-After: 1\r\n"), std::string::npos);
  close(first);
  std::string served;
  for (int i = 0; i < 100 && StatusLine(served) != "HTTP/1.1 200 OK"; ++i) {
    served = HttpExchange(server->port(), "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    if (StatusLine(served) != "HTTP/1.1 200 OK") std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(StatusLine(served), "HTTP/1.1 200 OK");
  close(second);
}

// A client that asks for a large exposition and never reads it is cut off at the write deadline,
// and other scrapes are answered meanwhile.
TEST(MetricsHttpServerTest, AClientThatStopsReadingIsClosedAtTheWriteDeadline) {
  auto registry = std::make_shared<prometheus::Registry>();
  auto& family = prometheus::BuildCounter().Name("test_wide_total").Help("Many series").Register(*registry);
  // About 8 MB: more than the kernel buffers a loopback connection (tcp_wmem's 4 MB maximum).
  for (int i = 0; i < 200000; ++i) family.Add({{"series", std::to_string(i)}}).Increment();
  MetricsHttpOptions options;
  // The whole response must be taken within this, also by the client that reads: long enough for
  // it to read 8 MB on a loaded machine (500 ms was not, under a parallel test run beside a build),
  // well inside the stalled client's 10 s wait below.
  options.write_timeout = absl::Seconds(3);
  auto server = StartServer(options, registry);
  ASSERT_NE(server, nullptr);
  const int stalled = socket(AF_INET, SOCK_STREAM, 0);
  const int small = 4096;
  setsockopt(stalled, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));  // before connect: a small window
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(server->port()));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(stalled, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  const std::string request = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(send(stalled, request.data(), request.size(), MSG_NOSIGNAL), static_cast<ssize_t>(request.size()));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const std::string other = HttpExchange(server->port(), request);
  EXPECT_EQ(StatusLine(other), "HTTP/1.1 200 OK");
  const size_t full_size = other.size();
  EXPECT_GT(full_size, 6u << 20) << "the exposition must exceed the socket buffers";
  // Still not reading when its deadline passes.
  std::this_thread::sleep_for(std::chrono::seconds(4));
  std::string received;
  EXPECT_TRUE(ReadsToClose(stalled, std::chrono::seconds(10), &received));
  close(stalled);
  EXPECT_LT(received.size(), full_size) << "the stalled response was cut off";
}

TEST(MetricsHttpServerTest, ShutdownClosesHeldConnectionsWithinItsGrace) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  const int idle = ConnectLoopback(server->port());
  const int partial = ConnectLoopback(server->port());
  ASSERT_GE(idle, 0);
  ASSERT_GE(partial, 0);
  ASSERT_EQ(send(partial, "GET /met", 8, MSG_NOSIGNAL), 8);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto start = std::chrono::steady_clock::now();
  server->Shutdown(absl::Seconds(1));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5)) << "not the 10 s header deadline";
  EXPECT_TRUE(ReadsToClose(idle, std::chrono::seconds(1)));
  EXPECT_TRUE(ReadsToClose(partial, std::chrono::seconds(1)));
  close(idle);
  close(partial);
  EXPECT_EQ(ConnectLoopback(server->port()), -1) << "no longer listening";
  server.reset();  // a second Shutdown (from the destructor) is a no-op
}

// Sockets the process `pid` holds open.
int OpenSockets(pid_t pid) {
  int sockets = 0;
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* listing = opendir(dir.c_str());
  if (listing == nullptr) return -1;
  while (dirent* entry = readdir(listing)) {
    char target[256];
    const ssize_t n = readlink((dir + "/" + entry->d_name).c_str(), target, sizeof(target) - 1);
    if (n > 0 && std::string(target, static_cast<size_t>(n)).rfind("socket:", 0) == 0) ++sockets;
  }
  closedir(listing);
  return sockets;
}

// A non-blocking connect: the connection is complete once the server accepts or the backlog takes it.
int ConnectWithoutWaiting(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  (void)connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  return fd;
}

// The service's /metrics with a slowloris client (a byte every 1.5 s) and 500 idle connections
// held: all of them are accepted, a scrape is answered, and SIGTERM ends the process.
void ExpectScrapesBesideHostileClients(ServiceProcess& service, const std::string& expected_metric) {
  const int port = service.LoggedNumber("metrics on port ");
  ASSERT_GT(port, 0);
  const int sockets_before = OpenSockets(service.pid());

  std::atomic<bool> stop{false};
  std::thread slowloris([&] {
    const int fd = ConnectLoopback(port);
    const std::string request = "GET /metrics HTTP/1.1\r\nHost: localhost\r\nUser-Agent: slow\r\n\r\n";
    for (size_t i = 0; fd >= 0 && i < request.size() && !stop; ++i) {
      if (send(fd, &request[i], 1, MSG_NOSIGNAL) != 1) break;
      for (int wait = 0; wait < 15 && !stop; ++wait) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    while (!stop) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (fd >= 0) close(fd);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the slowloris is first in line
  std::vector<int> idle;
  for (int i = 0; i < 500; ++i) idle.push_back(ConnectWithoutWaiting(port));

  int accepted = 0;
  for (int i = 0; i < 500 && accepted < 501; ++i) {
    accepted = OpenSockets(service.pid()) - sockets_before;
    if (accepted < 501) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_GE(accepted, 501) << "connections the service accepted: 500 idle and the slowloris";

  const std::string body = HttpGet(port, "/metrics");  // gives up after 30 s
  EXPECT_NE(body.find(expected_metric), std::string::npos) << "no scrape beside the held connections";

  const std::optional<int> ended = service.StopWithin(SIGTERM, std::chrono::seconds(20));
  stop = true;
  slowloris.join();
  for (int fd : idle) close(fd);
  ASSERT_TRUE(ended.has_value()) << "SIGTERM did not end the service while clients held connections";
  EXPECT_TRUE(WIFEXITED(*ended) && WEXITSTATUS(*ended) == 0) << *ended;
}

TEST(MetricsEndpointTest, InferenceScrapesBesideASlowlorisAndIdleConnectionsAndStopsOnSigterm) {
  const std::string dir = MakeTempDir("metrics_endpoint_inference");
  ServiceProcess inference;
  ASSERT_TRUE(inference.Start(BinaryDir() + "/promptintern-inference",
                              {"--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--registry-dir",
                               dir + "/registry", "--model", "ghost@production", "--poll-seconds", "0.5"},
                              dir + "/inference.log"));
  ExpectScrapesBesideHostileClients(inference, "promptintern_requests_running");
}

TEST(MetricsEndpointTest, TrainerScrapesBesideASlowlorisAndIdleConnectionsAndStopsOnSigterm) {
  const std::string dir = MakeTempDir("metrics_endpoint_trainer");
  ServiceProcess trainer;
  ASSERT_TRUE(trainer.Start(BinaryDir() + "/promptintern-trainer",
                            {"--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--data-dir", dir + "/data",
                             "--registry-dir", dir + "/registry", "--threads", "1"},
                            dir + "/trainer.log"));
  ExpectScrapesBesideHostileClients(trainer, "promptintern_trainer_jobs");
}

}  // namespace
}  // namespace promptintern
