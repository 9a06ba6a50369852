// IDX readers (the MNIST / Fashion-MNIST format): a big-endian header, then uint8 items.
// zlib's gz* functions read gzipped and plain files alike, so both work unchanged.
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "cusweep/dataset.h"
#include "cusweep/error.h"

namespace cusweep {
namespace {

// Magic numbers from the IDX spec: two zero bytes, the item type (0x08 = unsigned byte), the
// number of dimensions.
constexpr uint32_t kImagesMagic = 0x00000803;
constexpr uint32_t kLabelsMagic = 0x00000801;
constexpr int64_t kImagesHeaderBytes = 16;  // magic, count, rows, cols
constexpr int64_t kLabelsHeaderBytes = 8;   // magic, count

// Items are read in slices, so a header that claims billions of items fails on the missing
// bytes instead of on one huge allocation up front.
constexpr int64_t kReadSlice = int64_t{16} << 20;

std::string hex32(uint32_t value) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%08" PRIx32, value);
  return text;
}

// An open gz (or plain) file that remembers how far it has read, for byte offsets in messages.
class IdxFile {
 public:
  explicit IdxFile(const std::string& path) : path_(path) {
    // gzopen opens a folder, and the first read then fails with EISDIR, which reads like a
    // damaged file.
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
      throw UserError(path + " is a folder, not a file");
    }
    errno = 0;
    file_ = gzopen(path.c_str(), "rb");
    if (file_ == nullptr) {
      const std::string reason = errno != 0 ? std::strerror(errno) : "out of memory";
      throw UserError(path + ": cannot open IDX file: " + reason);
    }
  }
  ~IdxFile() { gzclose(file_); }
  IdxFile(const IdxFile&) = delete;
  IdxFile& operator=(const IdxFile&) = delete;

  const std::string& path() const { return path_; }
  int64_t offset() const { return offset_; }
  // Offsets inside a .gz file count uncompressed bytes; say so, or they look wrong.
  std::string at(int64_t offset) const {
    return path_ + ": byte offset " + std::to_string(offset) +
           (gzdirect(file_) ? "" : " (uncompressed)");
  }

  // Reads up to `n` bytes into `dst`; fewer only when the data ends. Corrupt gzip data throws.
  int64_t read(uint8_t* dst, int64_t n) {
    int64_t total = 0;
    while (total < n) {
      const auto want = static_cast<unsigned>(std::min(n - total, kReadSlice));
      const int got = gzread(file_, dst + total, want);
      if (got < 0) {
        int code = Z_OK;
        const char* message = gzerror(file_, &code);
        const std::string reason = code == Z_ERRNO ? std::strerror(errno) : message;
        throw UserError(at(offset_ + total) + ": read failed: " + reason,
                        "the file is damaged; download or extract it again");
      }
      if (got == 0) break;
      total += got;
    }
    offset_ += total;
    return total;
  }

  // Why a read came up short: a cut-off .gz stream, or a plain file that simply ends.
  std::string end_reason() const {
    int code = Z_OK;
    gzerror(file_, &code);
    return code == Z_BUF_ERROR ? "the gzip stream is truncated" : "the file ends";
  }

  // Throws when the gzip stream ended early although every item was read: a file cut inside
  // the 8-byte gzip trailer still decompresses completely, but its CRC was never checked.
  void check_stream_complete() const {
    int code = Z_OK;
    gzerror(file_, &code);
    if (code != Z_BUF_ERROR) return;
    throw UserError(path_ + ": truncated gzip stream (the file is damaged or incomplete)",
                    "download or extract it again; gzip -t " + path_ + " checks it");
  }

  uint32_t read_be32(const char* field, int64_t header_bytes) {
    uint8_t b[4];
    const int64_t start = offset_;
    if (read(b, 4) != 4) {
      throw UserError(at(offset_) + ": " + end_reason() + " inside the " +
                      std::to_string(header_bytes) + "-byte IDX header (reading the " + field +
                      " at byte offset " + std::to_string(start) + ")");
    }
    return uint32_t{b[0]} << 24 | uint32_t{b[1]} << 16 | uint32_t{b[2]} << 8 | uint32_t{b[3]};
  }

 private:
  std::string path_;
  gzFile file_ = nullptr;
  int64_t offset_ = 0;
};

void check_magic(const IdxFile& file, uint32_t magic, uint32_t expected, const char* kind) {
  if (magic == expected) return;
  const uint32_t other = expected == kImagesMagic ? kLabelsMagic : kImagesMagic;
  std::string hint;
  if (magic == other) {
    hint = std::string("this is an IDX ") + (other == kImagesMagic ? "images" : "labels") +
           " file: are the images and labels paths swapped?";
  }
  throw UserError(file.at(0) + ": magic number " + hex32(magic) + " is not an IDX " + kind +
                      " file; expected " + hex32(expected) + " (unsigned bytes, " +
                      std::to_string(expected & 0xff) + " dimension" +
                      (expected == kLabelsMagic ? "" : "s") + ")",
                  hint);
}

// Reads exactly `expected` bytes of items after the header; `what` describes them for the
// truncation message ("60000 images of 28x28"). Extra bytes after them are an error too: they
// mean the header's sizes do not describe this file.
std::vector<uint8_t> read_items(IdxFile* file, int64_t expected, const std::string& what) {
  const int64_t start = file->offset();
  std::vector<uint8_t> bytes;
  while (static_cast<int64_t>(bytes.size()) < expected) {
    const int64_t have = static_cast<int64_t>(bytes.size());
    const int64_t want = std::min(expected - have, kReadSlice);
    bytes.resize(have + want);
    const int64_t got = file->read(bytes.data() + have, want);
    if (got < want) {
      const int64_t actual = have + got;
      throw UserError(file->at(file->offset()) + ": truncated: the header declares " + what +
                          " = " + std::to_string(expected) + " bytes after the " +
                          std::to_string(start) + "-byte header, but " + file->end_reason() +
                          " after " + std::to_string(actual) + " of them",
                      "the file is incomplete; download or extract it again");
    }
  }

  uint8_t extra = 0;
  if (file->read(&extra, 1) != 0) {
    throw UserError(file->at(start + expected) + ": unexpected data after the " + what +
                    " that the header declares (" + std::to_string(expected) + " bytes)");
  }
  file->check_stream_complete();
  return bytes;
}

void check_not_empty(const IdxFile& file, uint32_t count, const char* kind) {
  if (count != 0) return;
  throw UserError(file.at(4) + ": the header declares 0 " + kind + "; the set is empty",
                  "an IDX file needs at least one item");
}

}  // namespace

Dataset read_idx_images(const std::string& path) {
  IdxFile file(path);
  const uint32_t magic = file.read_be32("magic number", kImagesHeaderBytes);
  check_magic(file, magic, kImagesMagic, "images");
  const uint32_t count = file.read_be32("image count", kImagesHeaderBytes);
  const uint32_t height = file.read_be32("row count", kImagesHeaderBytes);
  const uint32_t width = file.read_be32("column count", kImagesHeaderBytes);
  check_not_empty(file, count, "images");
  if (height == 0 || width == 0) {
    throw UserError(file.at(8) + ": image size " + std::to_string(height) + "x" +
                    std::to_string(width) + " is empty; rows and columns must be at least 1");
  }

  // uint32 x uint32 fits in uint64; the product with the count might not fit in int64.
  const uint64_t pixels = uint64_t{height} * width;
  if (pixels > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / count) {
    throw UserError(file.at(4) + ": the header declares " + std::to_string(count) + " images of " +
                    std::to_string(height) + "x" + std::to_string(width) +
                    ", more bytes than any file can hold");
  }
  const std::string what =
      std::to_string(count) + " images of " + std::to_string(height) + "x" + std::to_string(width);
  const std::vector<uint8_t> bytes = read_items(&file, static_cast<int64_t>(pixels * count), what);

  Dataset images;
  images.features.assign(bytes.begin(), bytes.end());  // raw 0..255; scaling comes later
  images.rows = count;
  images.cols = static_cast<int64_t>(pixels);
  images.image_rows = height;
  images.image_cols = width;
  images.source = path;
  return images;
}

std::vector<int32_t> read_idx_labels(const std::string& path) {
  IdxFile file(path);
  const uint32_t magic = file.read_be32("magic number", kLabelsHeaderBytes);
  check_magic(file, magic, kLabelsMagic, "labels");
  const uint32_t count = file.read_be32("label count", kLabelsHeaderBytes);
  check_not_empty(file, count, "labels");

  const std::vector<uint8_t> bytes =
      read_items(&file, count, std::to_string(count) + " one-byte labels");
  return std::vector<int32_t>(bytes.begin(), bytes.end());
}

}  // namespace cusweep
