#include "server/common/transport_security.h"

#include <google/protobuf/descriptor.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <memory>
#include <thread>

#include "client/lib/inference_client.h"
#include "client/lib/trainer_client.h"
#include "core/registry/registry.h"
#include "core/util/file.h"
#include "tests/status_matchers.h"
#include "tests/test_support.h"

namespace promptintern {
namespace {

using ::promptintern::testing::BinaryDir;
using ::promptintern::testing::HealthServing;
using ::promptintern::testing::MakeTempDir;
using ::promptintern::testing::ServiceProcess;
using ::promptintern::testing::TinyJobYaml;

// A throwaway PKI made with OpenSSL at test time: EC P-256 keys, certificates valid for a day.
struct KeyPair {
  std::shared_ptr<EVP_PKEY> key;
  std::shared_ptr<X509> certificate;
};

std::string ToPem(const std::function<int(BIO*)>& write) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  EXPECT_EQ(write(bio.get()), 1);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

void AddExtension(X509* certificate, X509* issuer, int nid, const char* value) {
  X509V3_CTX context;
  X509V3_set_ctx(&context, issuer, certificate, nullptr, nullptr, 0);
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value);
  ASSERT_NE(extension, nullptr) << value;
  X509_add_ext(certificate, extension, -1);
  X509_EXTENSION_free(extension);
}

// Self-signed CA when `issuer` is null; otherwise a leaf for localhost / 127.0.0.1 signed by it.
KeyPair MakeCertificate(const std::string& common_name, const KeyPair* issuer) {
  static long serial = 1;
  KeyPair made;
  made.key.reset(EVP_EC_gen("P-256"), EVP_PKEY_free);
  made.certificate.reset(X509_new(), X509_free);
  X509* certificate = made.certificate.get();
  X509_set_version(certificate, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(certificate), serial++);
  X509_gmtime_adj(X509_getm_notBefore(certificate), -3600);
  X509_gmtime_adj(X509_getm_notAfter(certificate), 24 * 3600);
  X509_set_pubkey(certificate, made.key.get());
  X509_NAME* name = X509_get_subject_name(certificate);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(common_name.c_str()), -1,
                             -1, 0);
  X509* issuer_certificate = issuer != nullptr ? issuer->certificate.get() : certificate;
  X509_set_issuer_name(certificate, X509_get_subject_name(issuer_certificate));
  if (issuer == nullptr) {
    AddExtension(certificate, issuer_certificate, NID_basic_constraints, "critical,CA:TRUE");
    AddExtension(certificate, issuer_certificate, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    AddExtension(certificate, issuer_certificate, NID_basic_constraints, "CA:FALSE");
    AddExtension(certificate, issuer_certificate, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
    AddExtension(certificate, issuer_certificate, NID_ext_key_usage, "serverAuth,clientAuth");
  }
  EVP_PKEY* signing_key = issuer != nullptr ? issuer->key.get() : made.key.get();
  EXPECT_GT(X509_sign(certificate, signing_key, EVP_sha256()), 0);
  return made;
}

// Writes name.pem (certificate) and name.key; returns the common prefix.
std::string WritePair(const std::string& dir, const std::string& name, const KeyPair& pair) {
  const std::string prefix = JoinPath(dir, name);
  EXPECT_THAT(WriteFileAtomic(prefix + ".pem",
                              ToPem([&](BIO* bio) { return PEM_write_bio_X509(bio, pair.certificate.get()); }))
                  , IsOk());
  EXPECT_THAT(WriteFileAtomic(prefix + ".key", ToPem([&](BIO* bio) {
                                return PEM_write_bio_PrivateKey(bio, pair.key.get(), nullptr, nullptr, 0, nullptr,
                                                                nullptr);
                              }))
                  , IsOk());
  return prefix;
}

constexpr char kToken[] = "s3cret-token-for-tests";

// Server CA + server certificate, client CA + client certificate, and a rogue CA that signed a
// server-looking and a client-looking certificate of its own.
class Pki {
 public:
  explicit Pki(const std::string& dir) : dir_(dir) {
    const KeyPair server_ca = MakeCertificate("PromptIntern test server CA", nullptr);
    const KeyPair client_ca = MakeCertificate("PromptIntern test client CA", nullptr);
    const KeyPair rogue_ca = MakeCertificate("Rogue CA", nullptr);
    WritePair(dir, "server-ca", server_ca);
    WritePair(dir, "client-ca", client_ca);
    WritePair(dir, "rogue-ca", rogue_ca);
    WritePair(dir, "server", MakeCertificate("promptintern-server", &server_ca));
    WritePair(dir, "client", MakeCertificate("backend-app", &client_ca));
    WritePair(dir, "rogue-client", MakeCertificate("backend-app", &rogue_ca));
    EXPECT_THAT(WriteFileAtomic(Path("tokens"), std::string("# rotated weekly\n\nold-token\n") + kToken + "\n"), IsOk());
  }
  std::string Path(const std::string& name) const { return JoinPath(dir_, name); }
  // A renewal as cert-manager does it: the server's files are rewritten in place, here by a new CA
  // (renewed-ca.pem) so that a client can tell which certificate it was shown.
  void RenewServerCertificate() const {
    const KeyPair renewed_ca = MakeCertificate("PromptIntern renewed CA", nullptr);
    WritePair(dir_, "renewed-ca", renewed_ca);
    WritePair(dir_, "server", MakeCertificate("promptintern-server", &renewed_ca));
  }
  std::vector<std::string> ServerFlags(bool mutual) const {
    std::vector<std::string> flags = {"--tls-cert-file", Path("server.pem"), "--tls-key-file", Path("server.key"),
                                      "--auth-token-file", Path("tokens"), "--health-listen", "127.0.0.1:0",
                                      "--tls-reload-seconds", "1"};
    if (mutual) flags.insert(flags.end(), {"--tls-client-ca-file", Path("client-ca.pem")});
    return flags;
  }
  ConnectionOptions Client(const std::string& address, const std::string& token) const {
    ConnectionOptions options;
    options.address = address;
    options.tls_ca_file = Path("server-ca.pem");
    options.token = token;
    return options;
  }

 private:
  std::string dir_;
};

Connection Open(const ConnectionOptions& options) {
  absl::StatusOr<Connection> connection = Connection::Open(options);
  EXPECT_THAT(connection, IsOk());
  return *std::move(connection);
}

std::vector<std::string> Args(std::vector<std::string> base, const std::vector<std::string>& more) {
  base.insert(base.end(), more.begin(), more.end());
  return base;
}

TEST(TransportSecurityTest, BadServerFilesAreReportedByName) {
  const std::string dir = MakeTempDir("tls_bad_files");
  Pki pki(dir);
  ASSERT_THAT(WriteFileAtomic(pki.Path("garbage.pem"), "not a certificate\n"), IsOk());
  struct Case {
    TransportSecuritySettings settings;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {{pki.Path("missing.pem"), pki.Path("server.key"), "", ""}, "missing.pem"},
      {{pki.Path("garbage.pem"), pki.Path("server.key"), "", ""}, "garbage.pem: no PEM certificate"},
      {{pki.Path("server.pem"), pki.Path("garbage.pem"), "", ""}, "garbage.pem: no unencrypted PEM private key"},
      {{pki.Path("server.pem"), pki.Path("client.key"), "", ""}, "client.key is not the private key of the certificate"},
      {{pki.Path("server.pem"), "", "", ""}, "TLS needs both tls_cert_file and tls_key_file"},
      {{"", "", pki.Path("client-ca.pem"), ""}, "tls_client_ca_file needs tls_cert_file"},
      {{pki.Path("server.pem"), pki.Path("server.key"), pki.Path("garbage.pem"), ""}, "garbage.pem: no PEM certificate"},
  };
  for (const Case& test : cases) {
    auto credentials = MakeServerCredentials(test.settings);
    ASSERT_FALSE(credentials.ok()) << test.expected;
    EXPECT_NE(credentials.status().message().find(test.expected), std::string::npos) << credentials.status();
  }
  EXPECT_THAT(MakeServerCredentials({pki.Path("server.pem"), pki.Path("server.key"), pki.Path("client-ca.pem"), ""}), IsOk());

  // The service refuses to start (exit 2) and says which file is wrong.
  const std::string log = JoinPath(dir, "inference.log");
  const std::string command = BinaryDir() + "/promptintern-inference --registry-dir " + dir + "/registry --model m " +
                              "--tls-cert-file " + pki.Path("server.pem") + " --tls-key-file " + pki.Path("client.key") +
                              " > /dev/null 2> " + log;
  const int status = std::system(command.c_str());
  EXPECT_EQ(WEXITSTATUS(status), 2);
  EXPECT_NE(ReadFile(log)->find("client.key is not the private key"), std::string::npos) << *ReadFile(log);
}

TEST(TransportSecurityTest, TokenFilesSkipCommentsAndMustHoldAToken) {
  const std::string dir = MakeTempDir("tls_token_files");
  ASSERT_THAT(WriteFileAtomic(JoinPath(dir, "empty"), "# nothing yet\n\n"), IsOk());
  auto empty = BearerTokenAuthenticator::FromFile(JoinPath(dir, "empty"));
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find("holds no token"), std::string::npos) << empty.status();
  auto missing = BearerTokenAuthenticator::FromFile(JoinPath(dir, "absent"));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("absent"), std::string::npos) << missing.status();
  EXPECT_FALSE(BearerTokenAuthenticator().enabled());
}

// Every method of `service` on `channel`, called without a valid token, must come back
// UNAUTHENTICATED. The methods come from the .proto descriptor, so an RPC added later without
// its check fails here.
void ExpectEveryMethodRefused(const std::shared_ptr<grpc::Channel>& channel, const std::string& service,
                              const std::string& authorization) {
  const google::protobuf::ServiceDescriptor* descriptor =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(service);
  ASSERT_NE(descriptor, nullptr) << service;
  ASSERT_GT(descriptor->method_count(), 0);
  grpc::GenericStub stub(channel);
  for (int m = 0; m < descriptor->method_count(); ++m) {
    const std::string method = "/" + service + "/" + descriptor->method(m)->name();
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (!authorization.empty()) context.AddMetadata("authorization", authorization);
    grpc::CompletionQueue queue;
    grpc::Slice empty("");
    grpc::ByteBuffer request(&empty, 1);
    // Streaming or not, one empty request message and then the status: enough to be judged.
    std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call = stub.PrepareCall(&context, method, &queue);
    void* tag = nullptr;
    bool ok = false;
    call->StartCall(reinterpret_cast<void*>(1));
    queue.Next(&tag, &ok);
    call->WriteLast(request, grpc::WriteOptions(), reinterpret_cast<void*>(2));
    queue.Next(&tag, &ok);
    grpc::ByteBuffer response;
    do {
      call->Read(&response, reinterpret_cast<void*>(3));
      queue.Next(&tag, &ok);
    } while (ok);
    grpc::Status status;
    call->Finish(&status, reinterpret_cast<void*>(4));
    queue.Next(&tag, &ok);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << method << ": " << status.error_message();
    queue.Shutdown();
    while (queue.Next(&tag, &ok)) {
    }
  }
}

TEST(TransportSecurityTest, TrainerNeedsTheTokenOverTlsAndKeepsHealthOpen) {
  const std::string dir = MakeTempDir("tls_trainer");
  Pki pki(dir);
  ServiceProcess trainer;
  ASSERT_TRUE(trainer.Start(BinaryDir() + "/promptintern-trainer",
                            Args({"--listen", "127.0.0.1:0", "--metrics-listen", "", "--data-dir", dir + "/data",
                                  "--registry-dir", dir + "/registry", "--threads", "1"},
                                 pki.ServerFlags(/*mutual=*/false)),
                            dir + "/trainer.log"));

  // With the token (either line of the file): served.
  for (const std::string& token : {std::string(kToken), std::string("old-token")}) {
    TrainerClient client(Open(pki.Client(trainer.address(), token)));
    auto models = client.ListModels();
    EXPECT_THAT(models, IsOk());
  }
  // Without it, or with a wrong one: refused, on every RPC of both services.
  const Connection no_token = Open(pki.Client(trainer.address(), ""));
  ExpectEveryMethodRefused(no_token.channel(), "promptintern.v1.TrainerService", "");
  ExpectEveryMethodRefused(no_token.channel(), "promptintern.v1.RegistryService", "");
  ExpectEveryMethodRefused(no_token.channel(), "promptintern.v1.RegistryService", "Bearer wrong-token");
  ExpectEveryMethodRefused(no_token.channel(), "promptintern.v1.TrainerService", std::string("Basic ") + kToken);
  auto refused = TrainerClient(Open(pki.Client(trainer.address(), "wrong"))).ListModels();
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kUnauthenticated)) << refused.status();

  // Health needs no token, over TLS and on the plaintext health listener.
  EXPECT_TRUE(HealthServing(no_token.channel()));
  const int health_port = trainer.LoggedNumber("health on port ");
  ASSERT_GT(health_port, 0);
  EXPECT_TRUE(HealthServing("127.0.0.1:" + std::to_string(health_port)));
  EXPECT_TRUE(HealthServing("127.0.0.1:" + std::to_string(health_port), "liveness"));

  // A client that does not trust the server's CA cannot connect at all, token or not.
  ConnectionOptions untrusting = pki.Client(trainer.address(), kToken);
  untrusting.tls_ca_file = pki.Path("rogue-ca.pem");
  auto untrusted = TrainerClient(Open(untrusting)).ListModels();
  EXPECT_THAT(untrusted, StatusIs(absl::StatusCode::kUnavailable)) << untrusted.status();
  // Nor can a plaintext client.
  ConnectionOptions plaintext;
  plaintext.address = trainer.address();
  plaintext.token = kToken;
  auto cleartext = TrainerClient(Open(plaintext)).ListModels();
  EXPECT_THAT(cleartext, StatusIs(absl::StatusCode::kUnavailable)) << cleartext.status();

  // The CLI carries the same options.
  const std::string cli = BinaryDir() + "/promptintern models --server " + trainer.address() + " --tls-ca-file " +
                          pki.Path("server-ca.pem");
  ASSERT_THAT(WriteFileAtomic(pki.Path("my-token"), std::string(kToken) + "\n"), IsOk());
  EXPECT_EQ(std::system((cli + " --token-file " + pki.Path("my-token") + " > /dev/null 2>&1").c_str()), 0);
  const std::string log = dir + "/cli.log";
  EXPECT_NE(std::system(("env -u PROMPTINTERN_TOKEN " + cli + " > /dev/null 2> " + log).c_str()), 0);
  EXPECT_NE(ReadFile(log)->find("missing 'authorization: Bearer <token>'"), std::string::npos) << *ReadFile(log);

  // Rotation without a restart: the file is read again once it changes.
  ASSERT_THAT(WriteFileAtomic(pki.Path("tokens"), "rotated-token\n"), IsOk());
  TrainerClient rotated(Open(pki.Client(trainer.address(), "rotated-token")));
  TrainerClient retired(Open(pki.Client(trainer.address(), kToken)));
  bool rotated_accepted = false;
  for (int i = 0; i < 100 && !rotated_accepted; ++i) {
    rotated_accepted = rotated.ListModels().ok();
    if (!rotated_accepted) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(rotated_accepted);
  EXPECT_THAT(retired.ListModels(), StatusIs(absl::StatusCode::kUnauthenticated));
  // An emptied file keeps the tokens already loaded rather than opening the service.
  ASSERT_THAT(WriteFileAtomic(pki.Path("tokens"), "# nothing\n"), IsOk());
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  EXPECT_THAT(rotated.ListModels(), IsOk());
  ExpectEveryMethodRefused(no_token.channel(), "promptintern.v1.RegistryService", "");

  // A renewed certificate serves new connections without a restart.
  pki.RenewServerCertificate();
  ConnectionOptions renewed_trust = pki.Client(trainer.address(), "rotated-token");
  renewed_trust.tls_ca_file = pki.Path("renewed-ca.pem");
  bool renewed_served = false;
  for (int i = 0; i < 100 && !renewed_served; ++i) {
    // A fresh connection each time: an established one keeps the certificate of its handshake.
    renewed_served = TrainerClient(Open(renewed_trust)).ListModels().ok();
    if (!renewed_served) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(renewed_served);
  auto old_trust = TrainerClient(Open(pki.Client(trainer.address(), "rotated-token"))).ListModels();
  EXPECT_THAT(old_trust, StatusIs(absl::StatusCode::kUnavailable)) << old_trust.status();
}

TEST(TransportSecurityTest, InferenceWithMutualTlsServesOnlyClientsWithACertificateFromItsCa) {
  const std::string dir = MakeTempDir("tls_inference");
  Pki pki(dir);
  const std::string registry_dir = dir + "/registry";
  ASSERT_THAT(WriteFileAtomic(dir + "/job.yaml", TinyJobYaml("secure", 4)), IsOk());
  const std::string train = BinaryDir() + "/promptintern train --config " + dir + "/job.yaml --output " + dir +
                            "/run --registry-dir " + registry_dir + " > /dev/null 2> " + dir + "/train.log";
  ASSERT_EQ(std::system(train.c_str()), 0) << *ReadFile(dir + "/train.log");
  auto registry = ModelRegistry::OpenLocal(registry_dir);
  ASSERT_THAT(registry, IsOk());
  ASSERT_TRUE((*registry)->SetAlias("secure", "production", 1, "test").ok());

  ServiceProcess inference;
  ASSERT_TRUE(inference.Start(BinaryDir() + "/promptintern-inference",
                              Args({"--listen", "127.0.0.1:0", "--metrics-listen", "", "--registry-dir", registry_dir,
                                    "--model", "secure@production", "--poll-seconds", "0.2", "--threads", "1"},
                                   pki.ServerFlags(/*mutual=*/true)),
                              dir + "/inference.log"));
  ConnectionOptions trusted = pki.Client(inference.address(), kToken);
  trusted.tls_cert_file = pki.Path("client.pem");
  trusted.tls_key_file = pki.Path("client.key");
  InferenceClient client(Open(trusted));
  for (int i = 0; i < 300 && !client.GetModel().ok(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  v1::GenerateRequest request;
  request.set_query("list files");
  request.set_max_tokens(4);
  auto served = client.Generate(request);
  ASSERT_THAT(served, IsOk());
  EXPECT_EQ(served->model(), "secure");

  // Right certificate, no token: refused on every RPC.
  ConnectionOptions tokenless = trusted;
  tokenless.token.clear();
  ExpectEveryMethodRefused(Open(tokenless).channel(), "promptintern.v1.InferenceService", "");

  // No client certificate, or one from another CA: the handshake fails.
  ConnectionOptions anonymous = pki.Client(inference.address(), kToken);
  auto without_certificate = InferenceClient(Open(anonymous)).Generate(request);
  EXPECT_THAT(without_certificate, StatusIs(absl::StatusCode::kUnavailable)) << without_certificate.status();
  ConnectionOptions rogue = trusted;
  rogue.tls_cert_file = pki.Path("rogue-client.pem");
  rogue.tls_key_file = pki.Path("rogue-client.key");
  auto rogue_call = InferenceClient(Open(rogue)).Generate(request);
  EXPECT_THAT(rogue_call, StatusIs(absl::StatusCode::kUnavailable)) << rogue_call.status();

  // Probes still see the serving status on the plaintext health port.
  EXPECT_TRUE(HealthServing("127.0.0.1:" + std::to_string(inference.LoggedNumber("health on port "))));
}

}  // namespace
}  // namespace promptintern
