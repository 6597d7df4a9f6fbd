#include "core/safetensors/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "core/util/file.h"
#include "tests/status_matchers.h"
#include "tests/test_support.h"

namespace promptintern {
namespace {

using ::promptintern::testing::MakeTempDir;

std::string WriteBytes(const std::string& name, const std::string& bytes) {
  const std::string path = JoinPath(MakeTempDir("safetensors"), name);
  EXPECT_THAT(WriteFileAtomic(path, bytes), IsOk());
  return path;
}

// A file with the given JSON header and `data_size` zero bytes of data.
std::string Craft(const std::string& header, size_t data_size) {
  std::string bytes(8, '\0');
  uint64_t size = header.size();
  std::memcpy(bytes.data(), &size, 8);  // x86-64 is little-endian, like the format
  return bytes + header + std::string(data_size, '\0');
}

TEST(SafetensorsTest, RoundTripsValuesShapesAndMetadata) {
  const std::vector<float> a = {1.5f, -2.0f, 3.25f, 0.0f, 1e-8f, -7.0f};
  const std::vector<uint16_t> b = {0x3c00, 0xc000};  // F16 1.0, -2.0
  const std::string path = JoinPath(MakeTempDir("roundtrip"), "t.safetensors");
  ASSERT_THAT(WriteSafetensors(path, {{"z.weight", DType::kF32, {2, 3}, a.data()}, {"a.bias", DType::kF16, {2}, b.data()}},
                               {{"format", "pt"}})
                  , IsOk());
  auto file = SafetensorsFile::Open(path);
  ASSERT_THAT(file, IsOk());
  EXPECT_EQ((*file)->metadata().at("format"), "pt");
  ASSERT_EQ((*file)->tensors().size(), 2u);
  const TensorInfo* z = (*file)->Find("z.weight");
  ASSERT_NE(z, nullptr);
  EXPECT_EQ(z->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(z->dtype, DType::kF32);
  EXPECT_EQ(std::memcmp((*file)->Data(*z), a.data(), a.size() * 4), 0);
  const TensorInfo* bias = (*file)->Find("a.bias");
  ASSERT_NE(bias, nullptr);
  EXPECT_EQ(std::memcmp((*file)->Data(*bias), b.data(), 4), 0);
}

TEST(SafetensorsTest, HeaderIsEightByteAlignedJson) {
  const float value = 1.0f;
  auto bytes = SerializeSafetensors({{"x", DType::kF32, {1}, &value}}, {});
  ASSERT_THAT(bytes, IsOk());
  uint64_t header_size = 0;
  std::memcpy(&header_size, bytes->data(), 8);
  EXPECT_EQ(header_size % 8, 0u);
  const auto header = nlohmann::json::parse(bytes->substr(8, header_size));
  EXPECT_EQ(header["x"]["dtype"], "F32");
  EXPECT_EQ(header["x"]["data_offsets"][1], 4);
}

struct CorruptCase {
  std::string name;
  std::string bytes;
  std::string expected_message;
};

void PrintTo(const CorruptCase& c, std::ostream* os) { *os << c.name; }

class CorruptSafetensorsTest : public ::testing::TestWithParam<CorruptCase> {};

TEST_P(CorruptSafetensorsTest, IsRefusedWithAClearError) {
  const std::string path = WriteBytes(GetParam().name + ".safetensors", GetParam().bytes);
  auto file = SafetensorsFile::Open(path);
  ASSERT_FALSE(file.ok());
  EXPECT_NE(std::string(file.status().message()).find(GetParam().expected_message), std::string::npos)
      << file.status();
  EXPECT_NE(std::string(file.status().message()).find(path), std::string::npos) << "error must name the file";
}

std::vector<CorruptCase> CorruptCases() {
  const std::string good_header = R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})";
  const std::string good = Craft(good_header, 16);
  return {
      {"too_short", "abc", "shorter than the 8-byte header length"},
      {"truncated_data", good.substr(0, good.size() - 5), "run past the end of the data"},
      {"truncated_header", good.substr(0, 20), "runs past the end"},
      {"header_length_lies", Craft(good_header, 16).replace(0, 8, std::string("\xff\xff\xff\xff\x00\x00\x00\x00", 8)),
       "exceeds the"},
      {"not_json", Craft("{not json", 0), "not valid JSON"},
      {"not_object", Craft("[1,2]", 0), "not a JSON object"},
      {"unknown_dtype", Craft(R"({"w":{"dtype":"Q4","shape":[2],"data_offsets":[0,2]}})", 2), "unsupported dtype \"Q4\""},
      {"shape_lies", Craft(R"({"w":{"dtype":"F32","shape":[3,2],"data_offsets":[0,16]}})", 16), "shape [3, 2]"},
      {"offsets_overlap",
       Craft(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12),
       "overlapping or lying data_offsets"},
      {"offsets_backwards", Craft(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", 8), "end before they begin"},
      {"trailing_bytes", Craft(good_header, 24), "header and file size disagree"},
      {"missing_field", Craft(R"({"w":{"dtype":"F32","shape":[2]}})", 8), "missing \"data_offsets\""},
      {"negative_dim", Craft(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8), "not a non-negative integer"},
      {"bad_metadata", Craft(R"({"__metadata__":{"a":1}})", 0), "is not a string"},
  };
}

INSTANTIATE_TEST_SUITE_P(Cases, CorruptSafetensorsTest, ::testing::ValuesIn(CorruptCases()),
                         [](const auto& info) { return info.param.name; });

TEST(SafetensorsTest, MissingFileIsNotFound) {
  auto file = SafetensorsFile::Open("/nonexistent/model.safetensors");
  EXPECT_THAT(file, StatusIs(absl::StatusCode::kNotFound));
}

TEST(SafetensorsTest, RefusesDuplicateNamesOnWrite) {
  const float value = 0;
  auto bytes = SerializeSafetensors({{"x", DType::kF32, {1}, &value}, {"x", DType::kF32, {1}, &value}}, {});
  EXPECT_FALSE(bytes.ok());
}

}  // namespace
}  // namespace promptintern
