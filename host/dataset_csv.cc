// CSV reader: numeric feature columns plus one label column, from plain or gzipped files.
// Labels are integer class indices, or strings that become classes in sorted order.
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "csv_reader.h"
#include "cusweep/dataset.h"
#include "cusweep/error.h"
#include "cusweep/log.h"

namespace cusweep {
namespace {

// Bad text is quoted in messages; a runaway field (a whole binary file) is cut to this length.
constexpr size_t kQuoteLimit = 40;

std::string quote(std::string_view text) {
  if (text.size() <= kQuoteLimit) return "'" + std::string(text) + "'";
  return "'" + std::string(text.substr(0, kQuoteLimit)) + "...'";
}

std::string at_line(const std::string& path, int64_t line) {
  return path + ":" + std::to_string(line);
}

// The whole file, decompressed when it is gzipped.
std::string read_whole_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw UserError(path + " is a folder, not a file", "give the path of a .csv or .csv.gz file");
  }
  // A device or a pipe may never end (/dev/zero): only files are read whole.
  if (std::filesystem::exists(path, ec) && !std::filesystem::is_regular_file(path, ec)) {
    throw UserError(path + " is not a regular file", "give the path of a .csv or .csv.gz file");
  }
  errno = 0;
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) {
    const std::string reason = errno != 0 ? std::strerror(errno) : "out of memory";
    throw UserError(path + ": cannot open CSV file: " + reason);
  }
  std::string text;
  char buffer[1 << 16];
  for (;;) {
    const int got = gzread(file, buffer, sizeof buffer);
    if (got < 0) {
      int code = Z_OK;
      const std::string message = gzerror(file, &code);
      const std::string reason = code == Z_ERRNO ? std::strerror(errno) : message;
      gzclose(file);
      throw UserError(path + ": read failed after " + std::to_string(text.size()) +
                      " bytes: " + reason);
    }
    if (got == 0) break;
    text.append(buffer, got);
  }

  // A gzip stream that ends early is not a read error to zlib: gzread returns what it could
  // decompress and records Z_BUF_ERROR, which gzclose returns too. Unchecked, a file cut at a
  // line boundary loses rows silently, and one cut mid-line reports a short row instead.
  int code = Z_OK;
  gzerror(file, &code);
  const int close_code = gzclose(file);
  if (code == Z_BUF_ERROR || close_code == Z_BUF_ERROR) {
    throw UserError(path + ": truncated gzip stream (the file is damaged or incomplete)",
                    "download or copy the file again; gzip -t " + path + " checks it");
  }
  const size_t nul = text.find('\0');
  if (nul != std::string::npos) {
    int64_t line =
        1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(nul), '\n');
    throw UserError(
        at_line(path, line) + ": byte " + std::to_string(nul + 1) + " is NUL: not a CSV text file",
        "give the CSV file itself (or its .gz), saved as text");
  }
  return text;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

bool is_blank(std::string_view line) {
  return trim(line).empty();
}

// Splits one line on commas. A field may be double-quoted ("a, b" and "say ""hi"""), as
// spreadsheets write them; a quoted field cannot span lines.
std::vector<std::string> split_fields(std::string_view line, const std::string& path,
                                      int64_t line_number) {
  std::vector<std::string> fields;
  size_t i = 0;
  for (;;) {
    std::string field;
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t'))
      ++i;
    if (i < line.size() && line[i] == '"') {
      const size_t open = i++;
      for (;;) {
        if (i >= line.size()) {
          throw UserError(at_line(path, line_number) + ": the quote opened at character " +
                              std::to_string(open + 1) + " is never closed",
                          "a quoted field must end on the line it starts on");
        }
        if (line[i] == '"' && i + 1 < line.size() && line[i + 1] == '"') {
          field += '"';
          i += 2;
        } else if (line[i] == '"') {
          ++i;
          break;
        } else {
          field += line[i++];
        }
      }
      const size_t comma = line.find(',', i);
      const std::string_view rest = line.substr(i, comma - i);
      if (!trim(rest).empty()) {
        throw UserError(at_line(path, line_number) + ": text " + quote(trim(rest)) +
                        " after the closing quote of field " + std::to_string(fields.size() + 1));
      }
      i = comma;
    } else {
      const size_t comma = line.find(',', i);
      field = std::string(trim(line.substr(i, comma - i)));
      i = comma;
    }
    fields.push_back(std::move(field));
    if (i == std::string_view::npos) return fields;
    ++i;  // past the comma
  }
}

enum class NumberStatus { kOk, kNotNumber, kNotFinite, kOutOfRange };

// Locale-independent (unlike strtod); the whole text must be the number.
NumberStatus parse_number(std::string_view text, double* value) {
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);  // from_chars rejects '+'
  if (text.empty()) return NumberStatus::kNotNumber;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, *value);
  if (ec == std::errc::result_out_of_range) return NumberStatus::kOutOfRange;
  if (ec != std::errc() || ptr != end) return NumberStatus::kNotNumber;
  if (!std::isfinite(*value)) return NumberStatus::kNotFinite;
  return NumberStatus::kOk;
}

bool parse_int(std::string_view text, int64_t* value) {
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, *value);
  return !text.empty() && ec == std::errc() && ptr == end;
}

std::string column_description(const std::vector<std::string>* names, size_t column) {
  std::string text = "column " + std::to_string(column);
  if (names != nullptr) text += " " + quote((*names)[column]);
  return text;
}

// Resolves `spec` (a header name, an integer index that may be negative, or "" for the last
// column) to a column index in [0, num_columns).
size_t find_label_column(const std::string& spec, const std::vector<std::string>* names,
                         size_t num_columns, const std::string& path, int64_t first_line) {
  if (spec.empty()) return num_columns - 1;

  int64_t by_name = -1;
  if (names != nullptr) {
    for (size_t c = 0; c < names->size(); ++c) {
      if ((*names)[c] != spec) continue;
      if (by_name >= 0) {
        throw UserError(at_line(path, first_line) + ": label_column " + quote(spec) +
                            " names two columns (" + std::to_string(by_name) + " and " +
                            std::to_string(c) + ")",
                        "give the label column by its integer index instead");
      }
      by_name = static_cast<int64_t>(c);
    }
  }

  int64_t index = 0;
  const bool is_index = parse_int(spec, &index);
  const auto n = static_cast<int64_t>(num_columns);
  if (is_index && index < 0) index += n;
  const bool index_in_range = is_index && index >= 0 && index < n;

  // sklearn-style headers hold numbers ("150,4,setosa,..."): "4" could mean either column.
  if (by_name >= 0 && index_in_range && by_name != index) {
    throw UserError(at_line(path, first_line) + ": label_column " + quote(spec) +
                        " is both the name of column " + std::to_string(by_name) +
                        " and the index of column " + std::to_string(index),
                    "use a negative index (counting from the end) or rename the column");
  }
  if (by_name >= 0) return static_cast<size_t>(by_name);
  if (index_in_range) return static_cast<size_t>(index);

  if (is_index) {
    throw UserError(path + ": label_column " + spec + " is out of range; the file has " +
                    std::to_string(num_columns) + " columns, so the index must be in [" +
                    std::to_string(-n) + ", " + std::to_string(n - 1) + "]");
  }
  if (names == nullptr) {
    throw UserError(path + ": label_column " + quote(spec) +
                        " is a column name, but the file has no header row",
                    "give an integer index, or set header to true if line 1 names the columns");
  }
  std::string message =
      at_line(path, first_line) + ": no column named " + quote(spec) + " in the header";
  const std::string suggestion = did_you_mean(spec, *names);
  if (!suggestion.empty()) message += ";" + suggestion;
  throw UserError(message, "give a header name or an integer index (negative counts from the end)");
}

// Why a numeric label cannot be a class index, or nullptr when it can.
const char* label_problem(NumberStatus status, double value) {
  if (status == NumberStatus::kNotFinite) return "is not finite";
  if (status == NumberStatus::kOutOfRange) return "is out of range";
  if (value < 0) return "is negative";
  if (std::floor(value) != value) return "is not an integer";
  if (value >= std::numeric_limits<int32_t>::max()) return "is too large";
  return nullptr;
}

// Turns label texts into class indices: all non-negative integers are used as they are; any
// non-numeric label makes every label a name, numbered in sorted order.
void assign_labels(const std::vector<std::string>& texts, const std::vector<int64_t>& lines,
                   const std::string& path, const std::string& column, Dataset* data,
                   std::vector<std::string>* class_names) {
  size_t names = 0, first_name = 0;
  for (size_t r = 0; r < texts.size(); ++r) {
    double value = 0;
    if (parse_number(texts[r], &value) == NumberStatus::kNotNumber && names++ == 0) first_name = r;
  }
  const bool all_numeric = names == 0;
  if (names > 0 && names < texts.size()) {
    // Numbers and names in one label column: often one stray cell, which adds a class.
    log_warning(at_line(path, lines[first_name]) + ": " + column + " holds numbers and names (" +
                std::to_string(names) + " of " + std::to_string(texts.size()) +
                " labels are names, the first " + quote(texts[first_name]) +
                "): every label is read as a name, numbers included");
  }

  data->labels.resize(texts.size());
  if (!all_numeric) {
    std::map<std::string, int32_t> classes;
    for (size_t r = 0; r < texts.size(); ++r) {
      if (!classes.emplace(texts[r], 0).second) continue;
      if (static_cast<int64_t>(classes.size()) > kMaxClasses) {
        throw UserError(at_line(path, lines[r]) + ": label " + quote(texts[r]) + " in " + column +
                            " makes " + std::to_string(kMaxClasses + 1) +
                            " distinct labels; at most " + std::to_string(kMaxClasses) +
                            " classes are supported",
                        "is " + column + " the label column? If not, set label_column");
      }
    }
    class_names->clear();
    for (auto& [name, index] : classes) {
      index = static_cast<int32_t>(class_names->size());
      class_names->push_back(name);
    }
    for (size_t r = 0; r < texts.size(); ++r) {
      data->labels[r] = classes.at(texts[r]);
    }
    data->num_classes = static_cast<int>(class_names->size());
    return;
  }

  int32_t max_label = 0;
  for (size_t r = 0; r < texts.size(); ++r) {
    double value = 0;
    const NumberStatus status = parse_number(texts[r], &value);
    const char* problem = label_problem(status, value);
    if (problem != nullptr) {
      throw UserError(at_line(path, lines[r]) + ": label " + quote(texts[r]) + " in " + column +
                          " " + problem + "; numeric labels must be class indices 0, 1, 2, ...",
                      "this reader does classification; a continuous target is not supported");
    }
    if (value >= kMaxClasses) {
      throw UserError(at_line(path, lines[r]) + ": label " + quote(texts[r]) + " in " + column +
                          " is above the limit: labels are class indices 0 to " +
                          std::to_string(kMaxClasses - 1) + " (at most " +
                          std::to_string(kMaxClasses) + " classes)",
                      "class indices must be 0, 1, 2, ... without large gaps; renumber the "
                      "labels, or write them as names to have them numbered in sorted order");
    }
    data->labels[r] = static_cast<int32_t>(value);
    max_label = std::max(max_label, data->labels[r]);
  }
  class_names->clear();
  data->num_classes = max_label + 1;
}

}  // namespace

namespace internal {

// read_csv, plus what load_data needs: the class names when labels were strings (empty when
// they were integers), to give a separate eval file the same class indices; and each row's
// line number, for messages about labels found bad later; and the feature columns' header
// names (empty without a header), to check a separate eval file has the same columns.
Dataset read_csv_detailed(const std::string& path, bool header, const std::string& label_column,
                          std::vector<std::string>* class_names, std::vector<int64_t>* row_lines,
                          std::vector<std::string>* feature_names) {
  std::string text = read_whole_file(path);
  if (text.compare(0, 3, "\xEF\xBB\xBF") == 0) text.erase(0, 3);  // spreadsheets' UTF-8 BOM

  // Lines, numbered from 1 as editors do; blank lines (trailing ones above all) are skipped.
  std::vector<std::pair<int64_t, std::string_view>> lines;
  std::string_view rest(text);
  for (int64_t number = 1; !rest.empty(); ++number) {
    const size_t newline = rest.find('\n');
    std::string_view line = rest.substr(0, newline);
    rest = newline == std::string_view::npos ? std::string_view() : rest.substr(newline + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);  // CRLF
    if (!is_blank(line)) lines.emplace_back(number, line);
  }
  if (lines.empty()) throw UserError(path + ": the CSV file is empty");
  if (header && lines.size() == 1) {
    throw UserError(
        path + ": only a header line, no data rows",
        "set header to false if line " + std::to_string(lines[0].first) + " holds data");
  }

  const int64_t first_line = lines[0].first;
  std::vector<std::string> names;
  if (header) names = split_fields(lines[0].second, path, first_line);
  const size_t first_data = header ? 1 : 0;
  const size_t num_columns =
      header ? names.size() : split_fields(lines[0].second, path, first_line).size();
  if (num_columns < 2) {
    throw UserError(at_line(path, first_line) +
                        ": only one column; need at least one feature "
                        "column and a label column",
                    "fields must be separated by commas");
  }
  const size_t label =
      find_label_column(label_column, header ? &names : nullptr, num_columns, path, first_line);
  const std::string label_description = column_description(header ? &names : nullptr, label);

  Dataset data;
  data.rows = static_cast<int64_t>(lines.size() - first_data);
  data.cols = static_cast<int64_t>(num_columns - 1);
  data.source = path;
  data.features.reserve(data.rows * data.cols);
  std::vector<std::string> label_texts;
  std::vector<int64_t> label_lines;
  label_texts.reserve(data.rows);
  label_lines.reserve(data.rows);

  for (size_t i = first_data; i < lines.size(); ++i) {
    const auto [number, line] = lines[i];
    const std::vector<std::string> fields = split_fields(line, path, number);
    if (fields.size() != num_columns) {
      throw UserError(at_line(path, number) + ": " + std::to_string(fields.size()) +
                      " fields, expected " + std::to_string(num_columns) + " (as on line " +
                      std::to_string(first_line) + ")");
    }
    for (size_t c = 0; c < num_columns; ++c) {
      if (c == label) continue;
      double value = 0;
      const NumberStatus status = parse_number(fields[c], &value);
      const bool fits =
          status == NumberStatus::kOk && std::fabs(value) <= std::numeric_limits<float>::max();
      if (!fits) {
        const char* problem = fields[c].empty()                    ? "is empty"
                              : status == NumberStatus::kNotFinite ? "is not finite"
                              : status == NumberStatus::kNotNumber ? "is not a number"
                                                                   : "is out of float range";
        throw UserError(at_line(path, number) + ": " +
                            column_description(header ? &names : nullptr, c) + ": value " +
                            quote(fields[c]) + " " + problem +
                            "; features must be finite decimal numbers",
                        !header && i == first_data && status == NumberStatus::kNotNumber
                            ? "is line " + std::to_string(number) +
                                  " a header? say so with \"header\": true in the data section"
                            : "fill in or drop missing values before loading");
      }
      data.features.push_back(static_cast<float>(value));
    }
    if (fields[label].empty()) {
      throw UserError(at_line(path, number) + ": the label (" + label_description +
                      ") is empty; every row needs a label");
    }
    label_texts.push_back(fields[label]);
    label_lines.push_back(number);
  }

  std::vector<std::string> names_out;
  assign_labels(label_texts, label_lines, path, label_description, &data, &names_out);
  if (class_names != nullptr) *class_names = std::move(names_out);
  if (row_lines != nullptr) *row_lines = std::move(label_lines);
  if (feature_names != nullptr) {
    feature_names->clear();
    for (size_t c = 0; c < names.size(); ++c) {
      if (c != label) feature_names->push_back(names[c]);
    }
  }
  return data;
}

}  // namespace internal

Dataset read_csv(const std::string& path, bool header, const std::string& label_column) {
  return internal::read_csv_detailed(path, header, label_column, nullptr, nullptr, nullptr);
}

}  // namespace cusweep
