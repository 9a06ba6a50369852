// Tests for the IDX and CSV readers, the `data` config section, the seeded hold-out split and
// feature scaling. Small files are written to a fresh temp folder per test.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "cusweep/dataset.h"
#include "cusweep/error.h"
#include "log_capture.h"

namespace cusweep {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using json = nlohmann::json;

// The thrown UserError's message (and hint), or a test failure when nothing was thrown.
template <typename F>
std::string user_error(F&& f, std::string* hint = nullptr) {
  try {
    f();
  } catch (const UserError& e) {
    if (hint != nullptr) *hint = e.hint();
    return e.what();
  }
  ADD_FAILURE() << "expected a UserError";
  return "";
}

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

std::string idx_images(uint32_t count, uint32_t rows, uint32_t cols,
                       const std::vector<uint8_t>& pixels, uint32_t magic = 0x00000803) {
  return be32(magic) + be32(count) + be32(rows) + be32(cols) +
         std::string(pixels.begin(), pixels.end());
}

std::string idx_labels(uint32_t count, const std::vector<uint8_t>& labels,
                       uint32_t magic = 0x00000801) {
  return be32(magic) + be32(count) + std::string(labels.begin(), labels.end());
}

std::vector<uint8_t> iota_bytes(size_t n, uint8_t start = 0) {
  std::vector<uint8_t> v(n);
  std::iota(v.begin(), v.end(), start);
  return v;
}

// The value of `key` in /proc/self/smaps for the mapping that holds `p`, or "" when absent.
std::string smaps_field(const void* p, const std::string& key) {
  std::ifstream smaps("/proc/self/smaps");
  const auto address = reinterpret_cast<uintptr_t>(p);
  bool inside = false;
  std::string line;
  while (std::getline(smaps, line)) {
    uintptr_t from = 0, to = 0;
    char dash = 0;
    std::istringstream range(line);
    if (range >> std::hex >> from >> dash >> to && dash == '-') {
      inside = from <= address && address < to;  // a mapping's first line: its address range
    } else if (inside && line.rfind(key + ":", 0) == 0) {
      std::istringstream value(line.substr(key.size() + 1));
      std::string word;
      value >> word;
      return word;
    }
  }
  return "";
}

TEST(FeatureArrayTest, LargeArraysStartOnHugePagesAndAskForThem) {
  constexpr size_t kHuge = size_t{2} << 20;
  FeatureArray large(3 * kHuge / sizeof(float) + 5, 1.5f);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(large.data()) % kHuge, 0u);
  EXPECT_EQ(large.back(), 1.5f);
  FeatureArray small(1000, 2.f);  // ordinary memory
  EXPECT_EQ(small.front() + small.back(), 4.f);

  std::ifstream mode("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string modes;
  std::getline(mode, modes);
  if (modes.empty() || modes.find("[never]") != std::string::npos) {
    GTEST_SKIP() << "transparent huge pages are off here ('" << modes << "')";
  }
  // The kernel marks a mapping that may be backed by huge pages; whether it had 2 MB pages
  // free at that moment is its business.
  EXPECT_EQ(smaps_field(large.data(), "THPeligible"), "1");
}

class DatasetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "cusweep_dataset_XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& bytes, bool gz = false) {
    const std::string path = dir_ + "/" + name;
    if (gz) {
      gzFile f = gzopen(path.c_str(), "wb");
      EXPECT_NE(f, nullptr);
      EXPECT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())),
                static_cast<int>(bytes.size()));
      gzclose(f);
    } else {
      std::ofstream(path, std::ios::binary) << bytes;
    }
    return path;
  }

  std::string read_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }

  // A gzip file of `head` + `tail` and the compressed size after `head` alone: a sync flush
  // ends a deflate block there, so the file cut to that size decompresses to exactly `head`.
  std::pair<std::string, size_t> gzip_with_cut_point(const std::string& name,
                                                     const std::string& head,
                                                     const std::string& tail) {
    const std::string path = dir_ + "/" + name;
    gzFile f = gzopen(path.c_str(), "wb");
    EXPECT_NE(f, nullptr);
    gzwrite(f, head.data(), static_cast<unsigned>(head.size()));
    EXPECT_EQ(gzflush(f, Z_SYNC_FLUSH), Z_OK);
    const auto cut = static_cast<size_t>(fs::file_size(path));
    gzwrite(f, tail.data(), static_cast<unsigned>(tail.size()));
    gzclose(f);
    return {path, cut};
  }

  // A CSV of `n` rows: feature = row id, label = row id % 3, for split tests.
  std::string numbered_csv(int n) {
    std::string text = "id,label\n";
    for (int i = 0; i < n; ++i) {
      text += std::to_string(i) + "," + std::to_string(i % 3) + "\n";
    }
    return write("numbered.csv", text);
  }

  std::string dir_;
};

using DatasetIdxTest = DatasetTest;
using DatasetCsvTest = DatasetTest;
using DatasetLoadTest = DatasetTest;
using DatasetConfigTest = DatasetTest;

// ---- IDX.

TEST_F(DatasetIdxTest, ReadsPlainImagesAndLabels) {
  std::vector<uint8_t> pixels = iota_bytes(18);
  pixels[17] = 255;
  const std::string images = write("img", idx_images(3, 2, 3, pixels));
  const std::string labels = write("lab", idx_labels(3, {0, 2, 1}));

  const Dataset d = read_idx_images(images);
  EXPECT_EQ(d.rows, 3);
  EXPECT_EQ(d.cols, 6);
  ASSERT_EQ(d.features.size(), 18u);
  EXPECT_EQ(d.features[0], 0.0f);
  EXPECT_EQ(d.features[7], 7.0f);
  EXPECT_EQ(d.features[17], 255.0f);  // raw values: scaling is a separate step
  EXPECT_EQ(d.source, images);
  EXPECT_THAT(read_idx_labels(labels), ElementsAre(0, 2, 1));
}

TEST_F(DatasetIdxTest, ReadsGzippedLikePlain) {
  const std::vector<uint8_t> pixels = iota_bytes(8, 100);
  const Dataset plain = read_idx_images(write("img", idx_images(2, 2, 2, pixels)));
  const Dataset gz = read_idx_images(write("img.gz", idx_images(2, 2, 2, pixels), true));
  EXPECT_EQ(gz.rows, 2);
  EXPECT_EQ(gz.cols, 4);
  EXPECT_EQ(gz.features, plain.features);
  EXPECT_THAT(read_idx_labels(write("lab.gz", idx_labels(2, {9, 4}), true)), ElementsAre(9, 4));
}

TEST_F(DatasetIdxTest, WrongMagicNamesFileOffsetAndBothValues) {
  const std::string labels_as_images = write("swapped", idx_labels(2, {1, 2}));
  std::string hint;
  EXPECT_THAT(user_error([&] { read_idx_images(labels_as_images); }, &hint),
              AllOf(HasSubstr(labels_as_images), HasSubstr("byte offset 0"),
                    HasSubstr("0x00000801"), HasSubstr("0x00000803")));
  EXPECT_THAT(hint, HasSubstr("swapped"));

  const std::string junk = write("junk", idx_images(1, 1, 1, {0}, 0x12345678));
  EXPECT_THAT(user_error([&] { read_idx_labels(junk); }),
              AllOf(HasSubstr(junk), HasSubstr("0x12345678"), HasSubstr("0x00000801")));
}

TEST_F(DatasetIdxTest, TruncatedImagesReportExpectedActualAndOffset) {
  const std::string path = write("short", idx_images(3, 2, 3, iota_bytes(10)));
  EXPECT_THAT(user_error([&] { read_idx_images(path); }),
              AllOf(HasSubstr(path), HasSubstr("truncated"), HasSubstr("3 images of 2x3"),
                    HasSubstr("18 bytes"), HasSubstr("after 10"), HasSubstr("byte offset 26")));
}

TEST_F(DatasetIdxTest, TruncatedInsideGzipContent) {
  // A complete gzip stream whose content is short.
  const std::string path = write("short.gz", idx_images(3, 2, 3, iota_bytes(10)), true);
  EXPECT_THAT(user_error([&] { read_idx_images(path); }),
              AllOf(HasSubstr(path), HasSubstr("18 bytes"), HasSubstr("after 10"),
                    HasSubstr("byte offset 26 (uncompressed)")));
}

TEST_F(DatasetIdxTest, CutOffGzipStreamIsAnError) {
  // Random-looking pixels so the compressed stream is long enough to cut in the middle.
  std::vector<uint8_t> pixels(4000);
  uint32_t x = 12345;
  for (auto& p : pixels) {
    p = static_cast<uint8_t>((x = x * 1103515245u + 12345u) >> 24);
  }
  const std::string full = write("full.gz", idx_images(10, 20, 20, pixels), true);
  std::ifstream in(full, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string path = write("cut.gz", bytes.substr(0, bytes.size() / 2));
  EXPECT_THAT(user_error([&] { read_idx_images(path); }),
              AllOf(HasSubstr(path), HasSubstr("byte offset")));
}

TEST_F(DatasetIdxTest, GzipCutInsideItsTrailerIsAnError) {
  // All items decompress, but the 8-byte CRC and length trailer is missing: never verified.
  const std::string full = write("full.gz", idx_labels(4, {0, 1, 2, 3}), true);
  const std::string bytes = read_bytes(full);
  const std::string path = write("cut.gz", bytes.substr(0, bytes.size() - 4));
  std::string hint;
  EXPECT_EQ(user_error([&] { read_idx_labels(path); }, &hint),
            path + ": truncated gzip stream (the file is damaged or incomplete)");
  EXPECT_THAT(hint, HasSubstr("again"));

  // Cut among the items: the truncation message says it is the gzip stream that ended.
  const auto [images, cut] =
      gzip_with_cut_point("img.gz", idx_images(2, 2, 2, iota_bytes(4)), std::string(4, '\1'));
  write("img.gz", read_bytes(images).substr(0, cut));
  EXPECT_THAT(user_error([&] { read_idx_images(images); }),
              AllOf(HasSubstr(images), HasSubstr("the gzip stream is truncated after 4 of them")));
}

TEST_F(DatasetIdxTest, FolderIsNotADamagedFile) {
  fs::create_directory(dir_ + "/train-images-idx3-ubyte.gz");
  const std::string path = dir_ + "/train-images-idx3-ubyte.gz";
  std::string hint = "unset";
  EXPECT_EQ(user_error([&] { read_idx_images(path); }, &hint), path + " is a folder, not a file");
  EXPECT_EQ(hint, "");
  EXPECT_THAT(user_error([&] { read_idx_labels(path); }),
              AllOf(HasSubstr("is a folder"), Not(HasSubstr("read failed"))));
}

TEST_F(DatasetIdxTest, EvalImagesOfAnotherShapeWithTheSamePixelCount) {
  DataConfig config;
  config.format = "idx";
  config.train_images = write("ti", idx_images(2, 4, 4, iota_bytes(32)));
  config.train_labels = write("tl", idx_labels(2, {0, 1}));
  config.eval_images = write("ei", idx_images(1, 2, 8, iota_bytes(16)));
  config.eval_labels = write("el", idx_labels(1, {1}));
  const Dataset images = read_idx_images(config.train_images);
  EXPECT_EQ(images.image_rows, 4);
  EXPECT_EQ(images.image_cols, 4);
  EXPECT_THAT(user_error([&] { load_data(config); }),
              AllOf(HasSubstr(config.eval_images + " holds images of 2x8"),
                    HasSubstr(config.train_images + " holds images of 4x4")));

  // The same shape loads, and keeps its shape through load_data.
  config.eval_images = write("ei", idx_images(1, 4, 4, iota_bytes(16)));
  const DataSplit split = load_data(config);
  EXPECT_EQ(split.eval.image_rows, 4);
  EXPECT_EQ(split.train.image_cols, 4);
}

TEST_F(DatasetIdxTest, AMissingFileIsNamedWithItsKey) {
  DataConfig config;
  config.format = "idx";
  config.train_images = write("ti", idx_images(2, 1, 1, {0, 1}));
  config.train_labels = write("tl", idx_labels(2, {0, 1}));
  config.eval_images = write("ei", idx_images(2, 1, 1, {0, 1}));
  config.eval_labels = dir_ + "/no-such-labels";
  EXPECT_EQ(user_error([&] { load_data(config); }),
            "data.eval_labels: no such file: " + config.eval_labels);
}

TEST_F(DatasetIdxTest, TrainLabelsOfOneClassAreAnError) {
  DataConfig config;
  config.format = "idx";
  config.train_images = write("ti", idx_images(3, 1, 1, {0, 1, 2}));
  config.train_labels = write("tl", idx_labels(3, {3, 3, 3}));
  config.eval_images = write("ei", idx_images(2, 1, 1, {0, 1}));
  config.eval_labels = write("el", idx_labels(2, {0, 3}));
  EXPECT_EQ(
      user_error([&] { load_data(config); }),
      config.train_labels + ": all labels are class 3: a classifier needs at least 2 classes");
}

TEST_F(DatasetIdxTest, TruncatedLabelsAndHeader) {
  const std::string labels = write("lab", idx_labels(5, {1, 2, 3}));
  EXPECT_THAT(user_error([&] { read_idx_labels(labels); }),
              AllOf(HasSubstr(labels), HasSubstr("5 one-byte labels = 5 bytes"),
                    HasSubstr("after 3"), HasSubstr("byte offset 11")));

  const std::string header = write("hdr", be32(0x803) + "\x00\x00", false);
  EXPECT_THAT(user_error([&] { read_idx_images(header); }),
              AllOf(HasSubstr(header), HasSubstr("16-byte IDX header"), HasSubstr("image count")));
}

TEST_F(DatasetIdxTest, EmptySetExtraDataAndMissingFile) {
  const std::string empty = write("empty", idx_images(0, 28, 28, {}));
  EXPECT_THAT(user_error([&] { read_idx_images(empty); }),
              AllOf(HasSubstr(empty), HasSubstr("0 images"), HasSubstr("empty")));
  const std::string no_labels = write("nolab.gz", idx_labels(0, {}), true);
  EXPECT_THAT(user_error([&] { read_idx_labels(no_labels); }),
              AllOf(HasSubstr(no_labels), HasSubstr("0 labels")));

  const std::string extra = write("extra", idx_labels(2, {1, 2, 3}));
  EXPECT_THAT(user_error([&] { read_idx_labels(extra); }),
              AllOf(HasSubstr(extra), HasSubstr("byte offset 10"), HasSubstr("unexpected data")));

  const std::string missing = dir_ + "/missing.gz";
  EXPECT_THAT(user_error([&] { read_idx_images(missing); }),
              AllOf(HasSubstr(missing), HasSubstr("cannot open")));
}

TEST_F(DatasetIdxTest, ImageAndLabelCountMismatchNamesBothFiles) {
  DataConfig config;
  config.format = "idx";
  config.train_images = write("ti", idx_images(3, 1, 2, iota_bytes(6)));
  config.train_labels = write("tl", idx_labels(2, {0, 1}));
  config.eval_images = write("ei", idx_images(1, 1, 2, iota_bytes(2)));
  config.eval_labels = write("el", idx_labels(1, {0}));
  EXPECT_THAT(user_error([&] { load_data(config); }),
              AllOf(HasSubstr(config.train_images), HasSubstr(config.train_labels),
                    HasSubstr("3 images"), HasSubstr("2 labels")));
}

TEST_F(DatasetIdxTest, DirWithGzAndPlainNamesAndInferredClasses) {
  fs::create_directory(dir_ + "/mnist");
  write("mnist/train-images-idx3-ubyte.gz", idx_images(4, 2, 2, iota_bytes(16)), true);
  write("mnist/train-labels-idx1-ubyte.gz", idx_labels(4, {0, 1, 2, 1}), true);
  write("mnist/t10k-images-idx3-ubyte", idx_images(2, 2, 2, iota_bytes(8, 200)));
  write("mnist/t10k-labels-idx1-ubyte", idx_labels(2, {4, 0}));

  // A relative dir is taken from the config file's folder.
  const DataConfig config =
      parse_data_config({{"format", "idx"}, {"dir", "mnist"}, {"scaling", "none"}}, dir_);
  EXPECT_EQ(config.dir, dir_ + "/mnist");
  EXPECT_EQ(config.train_images, dir_ + "/mnist/train-images-idx3-ubyte.gz");
  EXPECT_EQ(config.eval_labels, dir_ + "/mnist/t10k-labels-idx1-ubyte");

  const DataSplit split = load_data(config);
  EXPECT_EQ(split.train.rows, 4);
  EXPECT_EQ(split.train.cols, 4);
  EXPECT_EQ(split.eval.rows, 2);
  EXPECT_EQ(split.eval.features[0], 200.0f);
  EXPECT_THAT(split.eval.labels, ElementsAre(4, 0));
  // The largest label in either split sets the count, so train and eval agree.
  EXPECT_EQ(split.train.num_classes, 5);
  EXPECT_EQ(split.eval.num_classes, 5);
}

TEST_F(DatasetIdxTest, DirMissingFileAndLabelAboveNumClasses) {
  fs::create_directory(dir_ + "/partial");
  write("partial/train-images-idx3-ubyte.gz", idx_images(1, 1, 1, {0}), true);
  const DataConfig partial = parse_data_config({{"format", "idx"}, {"dir", "partial"}}, dir_);
  EXPECT_THAT(user_error([&] { load_data(partial); }),
              AllOf(HasSubstr(dir_ + "/partial"), HasSubstr("train-labels-idx1-ubyte.gz")));
  const DataConfig missing = parse_data_config({{"format", "idx"}, {"dir", "gone"}}, dir_);
  EXPECT_EQ(user_error([&] { load_data(missing); }),
            "data.dir '" + dir_ + "/gone': no such folder");

  DataConfig config;
  config.format = "idx";
  config.num_classes = 3;
  config.train_images = write("ti", idx_images(2, 1, 1, {0, 1}));
  config.train_labels = write("tl", idx_labels(2, {0, 2}));
  config.eval_images = write("ei", idx_images(2, 1, 1, {0, 1}));
  config.eval_labels = write("el", idx_labels(2, {1, 4}));
  EXPECT_THAT(user_error([&] { load_data(config); }),
              AllOf(HasSubstr(config.eval_labels + ": byte offset 9"), HasSubstr("label 4"),
                    HasSubstr("num_classes = 3")));
}

// ---- CSV.

TEST_F(DatasetCsvTest, LabelColumnByNameNegativeIndexAndDefault) {
  const std::string path = write("a.csv", "a,label,b\n1,0,2\n3,1,4\n5,1,6\n");
  const Dataset by_name = read_csv(path, true, "label");
  EXPECT_EQ(by_name.rows, 3);
  EXPECT_EQ(by_name.cols, 2);
  EXPECT_THAT(by_name.features, ElementsAre(1, 2, 3, 4, 5, 6));
  EXPECT_THAT(by_name.labels, ElementsAre(0, 1, 1));
  EXPECT_EQ(by_name.num_classes, 2);

  const Dataset by_index = read_csv(path, true, "-2");
  EXPECT_EQ(by_index.features, by_name.features);
  EXPECT_EQ(by_index.labels, by_name.labels);

  const Dataset last = read_csv(path, true, "");  // the last column, b
  EXPECT_THAT(last.features, ElementsAre(1, 0, 3, 1, 5, 1));
  EXPECT_THAT(last.labels, ElementsAre(2, 4, 6));
  EXPECT_EQ(last.num_classes, 7);
}

TEST_F(DatasetCsvTest, NoHeaderCrlfBomQuotesBlankLinesAndGzip) {
  const Dataset plain = read_csv(write("n.csv", "1,2,0\n3,4,2\n"), false, "");
  EXPECT_EQ(plain.rows, 2);
  EXPECT_THAT(plain.features, ElementsAre(1, 2, 3, 4));
  EXPECT_EQ(plain.num_classes, 3);
  const Dataset first = read_csv(write("f.csv", "1,2,0\n0,4,2\n"), false, "0");
  EXPECT_THAT(first.labels, ElementsAre(1, 0));
  EXPECT_THAT(first.features, ElementsAre(2, 0, 4, 2));

  const std::string windows = "\xEF\xBB\xBFx,z,\"y\"\r\n1.5, -2e1 ,\"1\"\r\n+2.5,3,0\r\n\r\n\n";
  const Dataset crlf = read_csv(write("w.csv", windows), true, "y");
  EXPECT_EQ(crlf.rows, 2);
  EXPECT_THAT(crlf.features, ElementsAre(1.5f, -20.0f, 2.5f, 3.0f));
  EXPECT_THAT(crlf.labels, ElementsAre(1, 0));

  const Dataset gz = read_csv(write("w.csv.gz", windows, true), true, "y");
  EXPECT_EQ(gz.features, crlf.features);
  EXPECT_EQ(gz.labels, crlf.labels);
}

TEST_F(DatasetCsvTest, RaggedRowNamesLineAndCounts) {
  const std::string path = write("r.csv", "a,b,y\n1,2,0\n\n1,2\n");
  EXPECT_THAT(user_error([&] { read_csv(path, true, ""); }),
              AllOf(HasSubstr(path + ":4"), HasSubstr("2 fields, expected 3")));
}

TEST_F(DatasetCsvTest, TruncatedGzipIsAnErrorWhereverItIsCut) {
  const std::string message = ": truncated gzip stream (the file is damaged or incomplete)";
  // Cut at a line boundary: what decompresses is a valid, shorter CSV.
  const auto [at_line, cut] = gzip_with_cut_point("l.csv.gz", "a,b,y\n1,2,0\n3,4,1\n", "5,6,1\n");
  EXPECT_EQ(read_csv(at_line, true, "").rows, 3);
  write("l.csv.gz", read_bytes(at_line).substr(0, cut));
  std::string hint;
  EXPECT_EQ(user_error([&] { read_csv(at_line, true, ""); }, &hint), at_line + message);
  EXPECT_THAT(hint, HasSubstr("again"));

  // Cut mid-line: reported as truncation, not as a row with too few fields.
  const auto [mid_line, mid] =
      gzip_with_cut_point("m.csv.gz", "a,b,c,d,y\n1,2,", "3,4,0\n5,6,7,8,1\n");
  write("m.csv.gz", read_bytes(mid_line).substr(0, mid));
  EXPECT_EQ(user_error([&] { read_csv(mid_line, true, ""); }), mid_line + message);

  // Cut inside the 8-byte trailer: every row decompresses, but the CRC was never checked.
  const std::string full = write("t.csv.gz", "a,y\n1,0\n2,1\n", true);
  write("t.csv.gz", read_bytes(full).substr(0, read_bytes(full).size() - 3));
  EXPECT_EQ(user_error([&] { read_csv(full, true, ""); }), full + message);

  // And in the 10-byte gzip header.
  write("h.csv.gz", read_bytes(full).substr(0, 5));
  EXPECT_EQ(user_error([&] { read_csv(dir_ + "/h.csv.gz", true, ""); }),
            dir_ + "/h.csv.gz" + message);
}

TEST_F(DatasetCsvTest, AMissingFileIsNamedWithItsKey) {
  DataConfig config;
  config.format = "csv";
  config.train = dir_ + "/no-train.csv";
  EXPECT_EQ(user_error([&] { load_data(config); }), "data.train: no such file: " + config.train);
  config.train = write("train.csv", "a,y\n1,0\n2,1\n");
  config.eval = dir_ + "/no-eval.csv";
  EXPECT_EQ(user_error([&] { load_data(config); }), "data.eval: no such file: " + config.eval);
}

TEST_F(DatasetCsvTest, FolderIsNotAFile) {
  fs::create_directory(dir_ + "/data.csv");
  EXPECT_EQ(user_error([&] { read_csv(dir_ + "/data.csv", true, ""); }),
            dir_ + "/data.csv is a folder, not a file");
}

TEST_F(DatasetCsvTest, LabelsAboveTheClassLimitNameTheLine) {
  const std::string big = write("big.csv", "a,y\n1,0\n2,2000000\n3,1\n");
  std::string hint;
  EXPECT_THAT(user_error([&] { read_csv(big, true, "y"); }, &hint),
              AllOf(HasSubstr(big + ":3"), HasSubstr("'2000000'"), HasSubstr("0 to 999"),
                    HasSubstr("at most 1000 classes")));
  EXPECT_THAT(hint, HasSubstr("renumber"));
  // The largest allowed label.
  EXPECT_EQ(read_csv(write("max.csv", "a,y\n1,0\n2,999\n"), true, "y").num_classes, kMaxClasses);

  // String labels: the line where the 1001st distinct name appears.
  std::string text = "a,y\n";
  for (int i = 0; i <= kMaxClasses; ++i) {
    text += std::to_string(i) + ",name" + std::to_string(i) + "\n";
  }
  const std::string names = write("names.csv", text);
  EXPECT_THAT(user_error([&] { read_csv(names, true, "y"); }),
              AllOf(HasSubstr(names + ":1002"), HasSubstr("'name1000'"),
                    HasSubstr("1001 distinct labels"), HasSubstr("at most 1000 classes")));
}

TEST_F(DatasetCsvTest, BadFeatureValuesNameLineColumnAndText) {
  const std::string text = write("t.csv", "a,b,y\n1,2,0\n1,abc,1\n");
  std::string hint;
  EXPECT_THAT(user_error([&] { read_csv(text, true, "y"); }, &hint),
              AllOf(HasSubstr(text + ":3"), HasSubstr("'b'"), HasSubstr("'abc'"),
                    HasSubstr("not a number")));
  EXPECT_THAT(hint, HasSubstr("missing values"));
  // Words on the first line of a file read without a header: probably a header.
  EXPECT_THAT(user_error([&] { read_csv(text, false, ""); }, &hint), HasSubstr(text + ":1"));
  EXPECT_EQ(hint, "is line 1 a header? say so with \"header\": true in the data section");
  for (const std::string bad : {"1.5x", "nan", "inf", "-Infinity", "", "0x10", "1e999"}) {
    const std::string path = write("bad.csv", "a,y\n1,0\n2,1\n" + bad + ",0\n");
    EXPECT_THAT(user_error([&] { read_csv(path, true, "y"); }),
                AllOf(HasSubstr(path + ":4"), HasSubstr("'a'"), HasSubstr("'" + bad + "'")))
        << bad;
  }
}

TEST_F(DatasetCsvTest, NegativeNonIntegerAndEmptyLabels) {
  const std::string negative = write("n.csv", "a,y\n1,0\n2,1\n3,-1\n");
  EXPECT_THAT(user_error([&] { read_csv(negative, true, "y"); }),
              AllOf(HasSubstr(negative + ":4"), HasSubstr("'-1'"), HasSubstr("negative")));
  const std::string fraction = write("f.csv", "a,y\n1,0.5\n");
  EXPECT_THAT(user_error([&] { read_csv(fraction, true, "y"); }),
              AllOf(HasSubstr(fraction + ":2"), HasSubstr("not an integer")));
  const std::string empty = write("e.csv", "a,y\n1,0\n2,\n");
  EXPECT_THAT(user_error([&] { read_csv(empty, true, "y"); }),
              AllOf(HasSubstr(empty + ":3"), HasSubstr("empty")));
  // 2.0 is an integer written as a float: accepted.
  EXPECT_THAT(read_csv(write("i.csv", "a,y\n1,2.0\n"), true, "y").labels, ElementsAre(2));
}

TEST_F(DatasetCsvTest, StringLabelsMapToSortedClasses) {
  const Dataset d = read_csv(write("s.csv", "x,animal\n1,dog\n2,cat\n3,bird\n4,cat\n"), true, "");
  EXPECT_THAT(d.labels, ElementsAre(2, 1, 0, 1));  // bird, cat, dog
  EXPECT_EQ(d.num_classes, 3);
  // One non-numeric label makes every label a name, numbers included, and is pointed out.
  Warnings warnings;
  const std::vector<std::string>& logged = warnings.logged;
  const std::string path = write("m.csv", "x,y\n1,10\n2,9\n3,other\n");
  const Dataset mixed = read_csv(path, true, "y");
  read_csv(write("s2.csv", "x,animal\n1,dog\n2,cat\n"), true, "");  // names only: no warning
  EXPECT_THAT(mixed.labels, ElementsAre(0, 1, 2));                  // "10" < "9" < "other"
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_THAT(logged[0], HasSubstr(path + ":4: column 1 'y' holds numbers and names (1 of 3 labels "
                                          "are names, the first 'other')"));
}

TEST_F(DatasetCsvTest, EmptyFilesAndHeaderOnly) {
  const std::string empty = write("e.csv", "");
  EXPECT_THAT(user_error([&] { read_csv(empty, true, ""); }),
              AllOf(HasSubstr(empty), HasSubstr("empty")));
  const std::string blank = write("b.csv", "\n  \r\n");
  EXPECT_THAT(user_error([&] { read_csv(blank, false, ""); }), HasSubstr("empty"));
  const std::string header = write("h.csv", "a,b\n");
  EXPECT_THAT(user_error([&] { read_csv(header, true, ""); }),
              AllOf(HasSubstr(header), HasSubstr("no data rows")));
  const std::string one_column = write("o.csv", "a;b;c\n1;2;3\n");
  EXPECT_THAT(user_error([&] { read_csv(one_column, true, ""); }),
              AllOf(HasSubstr(one_column + ":1"), HasSubstr("one column")));
}

TEST_F(DatasetCsvTest, BadLabelColumns) {
  const std::string path = write("c.csv", "width,label\n1,0\n");
  std::string hint;
  EXPECT_THAT(
      user_error([&] { read_csv(path, true, "lable"); }),
      AllOf(HasSubstr(path + ":1"), HasSubstr("'lable'"), HasSubstr("did you mean 'label'?")));
  EXPECT_THAT(user_error([&] { read_csv(path, true, "2"); }),
              AllOf(HasSubstr("out of range"), HasSubstr("[-2, 1]")));
  EXPECT_THAT(user_error([&] { read_csv(path, true, "-3"); }), HasSubstr("out of range"));
  EXPECT_THAT(user_error([&] { read_csv(path, false, "label"); }), HasSubstr("no header row"));

  // sklearn-style headers hold numbers: "4" names column 1 and indexes column 4.
  const std::string numeric = write("n.csv", "150,4,a,b,c\n1,2,3,4,0\n");
  EXPECT_THAT(user_error([&] { read_csv(numeric, true, "4"); }, &hint),
              HasSubstr("both the name of column 1 and the index of column 4"));
  EXPECT_THAT(hint, HasSubstr("negative index"));
  EXPECT_THAT(read_csv(numeric, true, "-1").features, ElementsAre(1, 2, 3, 4));
}

// ---- load_data with CSV files.

TEST_F(DatasetLoadTest, CsvLabelAboveNumClassesNamesFileAndLine) {
  DataConfig config;
  config.format = "csv";
  config.train = write("train.csv", "a,y\n1,0\n\n2,5\n3,1\n");
  config.eval = write("eval.csv", "a,y\n1,0\n");
  config.num_classes = 2;
  EXPECT_THAT(
      user_error([&] { load_data(config); }),
      AllOf(HasSubstr(config.train + ":4"), HasSubstr("label 5"), HasSubstr("num_classes = 2")));

  // String labels: the message names the label as written, not only its class index.
  config.train = write("train.csv", "a,y\n1,cat\n2,dog\n3,emu\n");
  config.eval = write("eval.csv", "a,y\n1,cat\n");
  EXPECT_THAT(user_error([&] { load_data(config); }),
              AllOf(HasSubstr(config.train + ":4"), HasSubstr("label 'emu' (class 2)")));
}

TEST_F(DatasetLoadTest, ClassesWithoutATrainingRowArePointedOut) {
  Warnings warnings;
  const std::vector<std::string>& logged = warnings.logged;
  DataConfig config;
  config.format = "csv";
  config.train = write("train.csv", "a,y\n1,0\n2,1\n3,200\n");  // a stray 200 among 0 and 1
  config.eval = write("eval.csv", "a,y\n1,0\n");
  EXPECT_EQ(load_data(config).train.num_classes, 201);
  config.train = write("dense.csv", "a,y\n1,0\n2,1\n");
  load_data(config);
  config.train = write("train.csv", "a,y\n1,0\n2,1\n3,200\n");
  config.num_classes = 201;  // said so: no warning
  load_data(config);
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_THAT(logged[0], AllOf(HasSubstr("data: 198 of the 201 classes (0 to the largest label, "
                                         "200) have no row in " +
                                         config.train + ", class 2 the first"),
                               HasSubstr("data.num_classes sets the class count")));
}

// Named classes are the two files' names together: one with no training row is named, with the
// file it comes from.
TEST_F(DatasetLoadTest, ANamedClassOnlyTheEvalFileHasIsNamed) {
  Warnings warnings;
  const std::vector<std::string>& logged = warnings.logged;
  DataConfig config;
  config.format = "csv";
  config.train = write("train.csv", "a,y\n1,cat\n2,dog\n");
  config.eval = write("eval.csv", "a,y\n1,cat\n3,bird\n");
  EXPECT_EQ(load_data(config).train.num_classes, 3);
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_EQ(logged[0], "data: 1 of the 3 classes has no row in " + config.train +
                           ": 'bird', named only in " + config.eval +
                           "; the model never learns it");
}

// The loaders check that a file has two classes; the rows max_train_samples keeps are checked
// again.
TEST_F(DatasetLoadTest, MaxTrainSamplesThatKeepOneClassIsAnError) {
  DataConfig config;
  config.format = "csv";
  config.train = write("train.csv", "a,y\n1,0\n2,0\n3,1\n");
  config.eval = write("eval.csv", "a,y\n1,0\n");
  config.max_train_samples = 2;
  EXPECT_EQ(user_error([&] { load_data(config); }),
            "data.max_train_samples = 2 leaves only training rows of class 0: a classifier needs "
            "at least 2 classes");
  config.max_train_samples = 3;
  EXPECT_EQ(load_data(config).train.rows, 3);
}

TEST_F(DatasetLoadTest, ClassLimitAppliesToNumClassesAndToBothFilesTogether) {
  DataConfig config;
  config.format = "csv";
  config.train = write("train.csv", "a,y\n1,0\n2,1\n");
  config.eval = write("eval.csv", "a,y\n1,0\n");
  config.num_classes = 20000;
  EXPECT_THAT(user_error([&] { load_data(config); }),
              AllOf(HasSubstr("data.num_classes: 20000"), HasSubstr("limit of 1000 classes")));

  // 600 names in each file, 1200 together: the eval row of a class beyond the limit is named.
  std::string train = "a,y\n", eval = "a,y\n";
  for (int i = 0; i < 600; ++i) {
    train += "1,a" + std::to_string(1000 + i) + "\n";
    eval += "1,b" + std::to_string(1000 + i) + "\n";
  }
  config.num_classes = 0;
  config.train = write("train.csv", train);
  config.eval = write("eval.csv", eval);
  EXPECT_THAT(user_error([&] { load_data(config); }),
              AllOf(HasSubstr(config.eval + ":"), HasSubstr("(class 1000)"),
                    HasSubstr("limit of 1000 classes")));
}

TEST_F(DatasetLoadTest, TrainWithOneClassIsAnError) {
  DataConfig config;
  config.format = "csv";
  config.train = write("train.csv", "a,y\n1,1\n2,1\n3,1\n");
  config.eval = write("eval.csv", "a,y\n1,0\n");
  std::string hint;
  EXPECT_EQ(user_error([&] { load_data(config); }, &hint),
            config.train + ": all labels are class 1: a classifier needs at least 2 classes");
  EXPECT_THAT(hint, HasSubstr("label_column"));
  config.num_classes = 4;  // a configured count does not make one class enough
  EXPECT_THAT(user_error([&] { load_data(config); }), HasSubstr("all labels are class 1"));

  config.num_classes = 0;
  config.train = write("train.csv", "a,y\n1,cat\n2,cat\n");
  config.eval = write("eval.csv", "a,y\n1,cat\n2,dog\n");
  EXPECT_THAT(user_error([&] { load_data(config); }), HasSubstr("all labels are class 'cat'"));

  // Held-out split: the file itself, or the rows held in.
  config.eval.clear();
  config.train = write("one.csv", "a,y\n1,2\n2,2\n3,2\n4,2\n");
  EXPECT_EQ(user_error([&] { load_data(config); }),
            config.train + ": all labels are class 2: a classifier needs at least 2 classes");
  config.train = write("rare.csv", "a,y\n1,0\n2,0\n3,0\n4,1\n");
  config.eval_fraction = 0.25;
  bool held_in_one_class = false;
  for (uint64_t seed = 0; seed < 20 && !held_in_one_class; ++seed) {
    config.split_seed = seed;
    try {
      load_data(config);
    } catch (const UserError& e) {
      EXPECT_THAT(e.what(),
                  AllOf(HasSubstr("rare.csv (held in:"), HasSubstr("all labels are class 0")));
      EXPECT_THAT(e.hint(), HasSubstr("split_seed"));
      held_in_one_class = true;
    }
  }
  EXPECT_TRUE(held_in_one_class) << "some seed holds out the one row of class 1";
}

TEST_F(DatasetLoadTest, SeparateEvalFileSharesStringClasses) {
  DataConfig config;
  config.format = "csv";
  config.scaling = Scaling::kNone;
  config.train = write("train.csv", "x,y\n1,cat\n2,dog\n");
  config.eval = write("eval.csv", "x,y\n3,bird\n4,dog\n");
  const DataSplit split = load_data(config);
  EXPECT_THAT(split.train.labels, ElementsAre(1, 2));  // bird, cat, dog across both files
  EXPECT_THAT(split.eval.labels, ElementsAre(0, 2));
  EXPECT_EQ(split.train.num_classes, 3);
  EXPECT_EQ(split.eval.num_classes, 3);

  config.eval = write("eval2.csv", "x,y\n3,0\n");
  EXPECT_THAT(user_error([&] { load_data(config); }),
              AllOf(HasSubstr("string labels"), HasSubstr("eval2.csv")));
  config.eval = write("eval3.csv", "x,z,y\n3,4,dog\n");
  EXPECT_THAT(user_error([&] { load_data(config); }),
              AllOf(HasSubstr("eval3.csv has 2 feature columns"), HasSubstr("has 1")));

  // Same count, different order: matched by position, so it must be caught by name.
  config.train = write("train2.csv", "a,b,y\n1,2,cat\n");
  config.eval = write("eval4.csv", "b,a,y\n2,1,cat\n");
  EXPECT_THAT(user_error([&] { load_data(config); }),
              AllOf(HasSubstr("eval4.csv: feature column 0 is 'b'"), HasSubstr("'a'")));
}

// Ids of the eval rows of numbered_csv's hold-out split.
std::vector<float> eval_ids(const DataSplit& split) {
  return std::vector<float>(split.eval.features.begin(), split.eval.features.end());
}

TEST_F(DatasetLoadTest, HoldOutSplitIsDeterministicPerSeed) {
  DataConfig config;
  config.format = "csv";
  config.scaling = Scaling::kNone;
  config.train = numbered_csv(50);
  config.eval_fraction = 0.2;
  config.split_seed = 7;

  const DataSplit a = load_data(config);
  const DataSplit b = load_data(config);
  EXPECT_EQ(a.train.rows, 40);
  EXPECT_EQ(a.eval.rows, 10);  // round(0.2 * 50)
  EXPECT_EQ(a.train.num_classes, 3);
  EXPECT_EQ(eval_ids(a), eval_ids(b));
  EXPECT_EQ(a.train.features, b.train.features);

  // Every row lands in exactly one split, with its own label.
  std::vector<float> all(a.train.features.begin(), a.train.features.end());
  all.insert(all.end(), a.eval.features.begin(), a.eval.features.end());
  std::sort(all.begin(), all.end());
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(all[i], static_cast<float>(i));
  }
  for (int64_t r = 0; r < a.eval.rows; ++r) {
    EXPECT_EQ(a.eval.labels[r], static_cast<int>(a.eval.features[r]) % 3);
  }

  config.split_seed = 8;
  EXPECT_NE(eval_ids(load_data(config)), eval_ids(a));

  // Pinned: the split is SplitMix64 + Fisher-Yates, so it must not change between builds or
  // standard libraries; a change here silently changes every CSV experiment's eval set.
  config.split_seed = 0;
  config.train = numbered_csv(10);
  config.eval_fraction = 0.3;
  EXPECT_THAT(eval_ids(load_data(config)), ElementsAre(6, 3, 2));
}

TEST_F(DatasetLoadTest, MaxSamplesTruncateAfterTheSplit) {
  DataConfig config;
  config.format = "csv";
  config.scaling = Scaling::kNone;
  config.train = numbered_csv(50);
  const DataSplit full = load_data(config);
  config.max_train_samples = 5;
  config.max_eval_samples = 3;
  config.num_classes = 3;
  const DataSplit small = load_data(config);
  EXPECT_EQ(small.train.rows, 5);
  EXPECT_EQ(small.eval.rows, 3);
  EXPECT_EQ(small.train.features,
            FeatureArray(full.train.features.begin(), full.train.features.begin() + 5));
  EXPECT_EQ(small.eval.features,
            FeatureArray(full.eval.features.begin(), full.eval.features.begin() + 3));
  EXPECT_THAT(small.train.labels, ::testing::Each(::testing::Lt(3)));

  config.train = numbered_csv(3);
  config.eval_fraction = 0.1;  // round(0.3) = 0 rows held out
  EXPECT_THAT(user_error([&] { load_data(config); }),
              AllOf(HasSubstr("numbered.csv"), HasSubstr("eval_fraction 0.1 of 3 rows")));
}

// ---- Scaling, by hand.

Dataset make(int64_t rows, int64_t cols, std::vector<float> values) {
  Dataset d;
  d.rows = rows;
  d.cols = cols;
  d.features.assign(values.begin(), values.end());
  d.labels.assign(rows, 0);
  return d;
}

TEST(DatasetScalingTest, StandardUsesTrainMeanAndPopulationStd) {
  Dataset train = make(3, 2, {1, 10, 3, 10, 5, 10});
  Dataset eval = make(1, 2, {7, 12});
  apply_scaling(Scaling::kStandard, &train, &eval);
  const float std0 = std::sqrt(8.0f / 3.0f);  // deviations -2, 0, 2
  EXPECT_NEAR(train.features[0], -2 / std0, 1e-6);
  EXPECT_NEAR(train.features[2], 0, 1e-6);
  EXPECT_NEAR(train.features[4], 2 / std0, 1e-6);
  EXPECT_NEAR(eval.features[0], 4 / std0, 1e-6);
  // The constant column is centered, not divided by its zero std.
  EXPECT_EQ(train.features[1], 0.0f);
  EXPECT_EQ(eval.features[1], 2.0f);

  // A constant column of a value with no exact binary form still comes out exactly 0.
  Dataset tenths = make(3, 1, {0.1f, 0.1f, 0.1f});
  apply_scaling(Scaling::kStandard, &tenths, nullptr);
  EXPECT_THAT(tenths.features, ElementsAre(0, 0, 0));
}

TEST(DatasetScalingTest, MinMaxUnitAndNone) {
  Dataset train = make(3, 2, {1, 10, 3, 10, 5, 10});
  Dataset eval = make(1, 2, {7, 12});
  apply_scaling(Scaling::kMinMax, &train, &eval);
  EXPECT_THAT(train.features, ElementsAre(0, 0, 0.5f, 0, 1, 0));
  EXPECT_THAT(eval.features, ElementsAre(1.5f, 0));  // eval may leave [0, 1]

  Dataset pixels = make(1, 3, {0, 51, 255});
  Dataset eval_pixels = make(1, 3, {255, 0, 102});
  apply_scaling(Scaling::kUnit, &pixels, &eval_pixels);
  EXPECT_THAT(pixels.features, ElementsAre(0, 0.2f, 1));
  EXPECT_THAT(eval_pixels.features, ElementsAre(1, 0, 0.4f));

  Dataset raw = make(1, 2, {3, 4});
  apply_scaling(Scaling::kNone, &raw, nullptr);
  EXPECT_THAT(raw.features, ElementsAre(3, 4));
}

TEST(DatasetScalingTest, NamesRoundTripAndTyposAreSuggested) {
  for (Scaling s : {Scaling::kNone, Scaling::kUnit, Scaling::kStandard, Scaling::kMinMax}) {
    EXPECT_EQ(parse_scaling(scaling_name(s), "data.scaling"), s);
  }
  EXPECT_THAT(
      user_error([] { parse_scaling("standart", "data.scaling"); }),
      AllOf(HasSubstr("data.scaling"), HasSubstr("'standart'"),
            HasSubstr("none, unit, standard, minmax"), HasSubstr("did you mean 'standard'?")));
}

// ---- Config.

TEST_F(DatasetConfigTest, ParsesCsvKeysAndResolvesPaths) {
  const json j = {{"format", "csv"},          {"train", "d/train.csv"}, {"eval", "/abs/eval.csv"},
                  {"header", false},          {"label_column", -1},     {"scaling", "minmax"},
                  {"max_train_samples", 1e3}, {"max_eval_samples", 50}, {"num_classes", 10}};
  const DataConfig c = parse_data_config(j, "/cfg");
  EXPECT_EQ(c.format, "csv");
  EXPECT_EQ(c.train, "/cfg/d/train.csv");
  EXPECT_EQ(c.eval, "/abs/eval.csv");
  EXPECT_FALSE(c.header);
  EXPECT_EQ(c.label_column, "-1");
  EXPECT_EQ(c.scaling, Scaling::kMinMax);
  EXPECT_EQ(c.max_train_samples, 1000);
  EXPECT_EQ(c.max_eval_samples, 50);
  EXPECT_EQ(c.num_classes, 10);

  const DataConfig d = parse_data_config(
      {{"format", "csv"}, {"train", "t.csv"}, {"eval_fraction", 0.25}, {"split_seed", 99}}, "");
  EXPECT_EQ(d.train, "t.csv");
  EXPECT_EQ(d.scaling, Scaling::kStandard);  // the struct default stays unless asked
  EXPECT_DOUBLE_EQ(d.eval_fraction, 0.25);
  EXPECT_EQ(d.split_seed, 99u);
  EXPECT_TRUE(d.header);
}

TEST_F(DatasetConfigTest, UnknownKeySuggestsTheClosest) {
  std::string hint;
  const json j = {{"format", "csv"}, {"train", "t.csv"}, {"scalng", "unit"}};
  EXPECT_THAT(user_error([&] { parse_data_config(j, ""); }, &hint),
              AllOf(HasSubstr("unknown key 'data.scalng'"), HasSubstr("did you mean 'scaling'?")));
  EXPECT_THAT(hint, HasSubstr("label_column"));
  EXPECT_THAT(user_error([&] { parse_data_config(j, "", "study.data"); }),
              HasSubstr("'study.data.scalng'"));
  EXPECT_THAT(user_error([&] {
                parse_data_config({{"format", "csv"}, {"zzzzzz", 1}}, "");
              }),
              AllOf(HasSubstr("unknown key 'data.zzzzzz'"), Not(HasSubstr("did you mean"))));
}

TEST_F(DatasetConfigTest, WrongTypesAndValuesNameKeyValueAndExpectation) {
  const auto error_for = [](const std::string& key, const json& value) {
    json j = {{"format", "csv"}, {"train", "t.csv"}};
    j[key] = value;
    return user_error([&] { parse_data_config(j, ""); });
  };
  EXPECT_THAT(error_for("header", "yes"),
              AllOf(HasSubstr("data.header"), HasSubstr("\"yes\""), HasSubstr("boolean")));
  EXPECT_THAT(error_for("max_train_samples", -1),
              AllOf(HasSubstr("data.max_train_samples"), HasSubstr("-1"),
                    HasSubstr("non-negative integer")));
  EXPECT_THAT(error_for("max_eval_samples", 2.5), HasSubstr("data.max_eval_samples"));
  EXPECT_THAT(error_for("eval_fraction", 1.5),
              AllOf(HasSubstr("data.eval_fraction"), HasSubstr("1.5"), HasSubstr("(0, 1)")));
  EXPECT_THAT(error_for("eval_fraction", 0), HasSubstr("(0, 1)"));
  EXPECT_THAT(error_for("eval_fraction", "0.2"), HasSubstr("a number"));
  EXPECT_THAT(error_for("label_column", 1.5),
              AllOf(HasSubstr("data.label_column"), HasSubstr("1.5"), HasSubstr("integer")));
  EXPECT_THAT(error_for("label_column", ""), HasSubstr("data.label_column is empty"));
  EXPECT_THAT(error_for("num_classes", "ten"),
              AllOf(HasSubstr("data.num_classes"), HasSubstr("\"ten\"")));
  EXPECT_THAT(error_for("num_classes", 1), HasSubstr("at least 2"));
  EXPECT_THAT(error_for("num_classes", 100000000),
              AllOf(HasSubstr("data.num_classes: 100000000"), HasSubstr("limit of 1000")));
  EXPECT_THAT(error_for("num_classes", 1e12), HasSubstr("limit of 1000"));
  EXPECT_THAT(error_for("split_seed", -3), AllOf(HasSubstr("data.split_seed"), HasSubstr("-3")));
  EXPECT_THAT(error_for("scaling", "stdandard"), HasSubstr("did you mean 'standard'?"));
  EXPECT_THAT(error_for("train", 7), AllOf(HasSubstr("data.train"), HasSubstr("a string")));
  EXPECT_THAT(user_error([] { parse_data_config(json::array(), ""); }),
              AllOf(HasSubstr("data"), HasSubstr("an object")));
}

TEST_F(DatasetConfigTest, FormatAndRequiredKeys) {
  EXPECT_THAT(
      user_error([] {
        parse_data_config({{"format", "csx"}}, "");
      }),
      AllOf(HasSubstr("data.format"), HasSubstr("'csx'"), HasSubstr("did you mean 'csv'?")));
  EXPECT_THAT(user_error([] {
                parse_data_config({{"train", "t.csv"}}, "");
              }),
              HasSubstr("data.format"));
  EXPECT_THAT(user_error([] {
                parse_data_config({{"format", "csv"}}, "");
              }),
              HasSubstr("data.train"));
  EXPECT_THAT(user_error([] {
                parse_data_config({{"format", "idx"}, {"train_images", "a"}}, "");
              }),
              AllOf(HasSubstr("data.dir"), HasSubstr("data.train_labels"),
                    HasSubstr("data.eval_labels"), Not(HasSubstr("missing data.train_images"))));
  EXPECT_THAT(user_error([] {
                parse_data_config({{"format", "idx"}, {"dir", "d"}, {"train_images", "a"}}, "");
              }),
              HasSubstr("both given"));
  // Keys of the other format are mistakes, not silently ignored.
  EXPECT_THAT(user_error([] {
                parse_data_config({{"format", "idx"}, {"header", true}}, "");
              }),
              HasSubstr("data.header applies only to format 'csv'"));
  EXPECT_THAT(user_error([] {
                parse_data_config({{"format", "csv"}, {"train", "t"}, {"dir", "d"}}, "");
              }),
              HasSubstr("data.dir applies only to format 'idx'"));
  EXPECT_THAT(user_error([] {
                parse_data_config(
                    {{"format", "csv"}, {"train", "t"}, {"eval", "e"}, {"eval_fraction", 0.1}}, "");
              }),
              HasSubstr("data.eval_fraction is unused when data.eval is given"));
  EXPECT_THAT(user_error([] {
                parse_data_config(
                    {{"format", "csv"}, {"train", "t"}, {"header", false}, {"label_column", "y"}},
                    "");
              }),
              HasSubstr("data.header is false"));

  const DataConfig idx = parse_data_config({{"format", "idx"},
                                            {"train_images", "a"},
                                            {"train_labels", "b"},
                                            {"eval_images", "/c"},
                                            {"eval_labels", "d"}},
                                           "/base");
  EXPECT_EQ(idx.train_images, "/base/a");
  EXPECT_EQ(idx.eval_images, "/c");
  EXPECT_TRUE(idx.dir.empty());
}

// ---- Real datasets, when this machine has them.

TEST(DatasetRealTest, FashionMnist) {
  const std::string dir = "/usr/share/datasets/fashion-mnist";
  if (!fs::exists(dir)) GTEST_SKIP() << dir << " is not on this machine";
  const DataConfig config =
      parse_data_config({{"format", "idx"}, {"dir", dir}, {"scaling", "unit"}}, "");
  const DataSplit split = load_data(config);
  EXPECT_EQ(split.train.rows, 60000);
  EXPECT_EQ(split.train.cols, 784);
  EXPECT_EQ(split.eval.rows, 10000);
  EXPECT_EQ(split.eval.cols, 784);
  EXPECT_EQ(split.train.num_classes, 10);
  EXPECT_EQ(split.eval.num_classes, 10);
  const auto [lo, hi] =
      std::minmax_element(split.train.features.begin(), split.train.features.end());
  EXPECT_EQ(*lo, 0.0f);
  EXPECT_EQ(*hi, 1.0f);
  const auto [elo, ehi] =
      std::minmax_element(split.eval.features.begin(), split.eval.features.end());
  EXPECT_GE(*elo, 0.0f);
  EXPECT_LE(*ehi, 1.0f);
}

TEST(DatasetRealTest, SklearnIris) {
  const std::string path = "/usr/lib/python3/dist-packages/sklearn/datasets/data/iris.csv";
  if (!fs::exists(path)) GTEST_SKIP() << path << " is not on this machine";
  // Its header is "150,4,setosa,versicolor,virginica": counts and class names, not columns.
  const Dataset iris = read_csv(path, true, "-1");
  EXPECT_EQ(iris.rows, 150);
  EXPECT_EQ(iris.cols, 4);
  EXPECT_EQ(iris.num_classes, 3);
  EXPECT_FLOAT_EQ(iris.features[0], 5.1f);
}

}  // namespace
}  // namespace cusweep
