// Typed JSON access and parse errors with line numbers.
#include "json_util.h"

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <vector>

#include <fmt/format.h>

#include "cusweep/error.h"

namespace cusweep {

using nlohmann::json;

const char* json_type_name(const json& v) {
  if (v.is_number_integer()) return "an integer";
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_boolean()) return "a boolean";
  if (v.is_array()) return "a list";
  if (v.is_object()) return "an object";
  return "null";
}

std::string dump_text(const json& v, int indent) {
  return v.dump(indent, ' ', false, json::error_handler_t::replace);
}

bool is_utf8(const std::string& s) {
  try {
    (void)json(s).dump();  // the strict handler throws on the first byte that is not UTF-8
    return true;
  } catch (const json::type_error&) {
    return false;
  }
}

std::string json_excerpt(const json& v) {
  std::string text = dump_text(v);
  constexpr size_t kMax = 60;
  if (text.size() > kMax) text = text.substr(0, kMax) + (v.is_string() ? "...\"" : "...");
  return text;
}

double json_number(const json& v, const std::string& key) {
  if (!v.is_number()) {
    throw UserError(
        fmt::format("{} must be a number, got {} ({})", key, json_excerpt(v), json_type_name(v)));
  }
  return v.get<double>();
}

int64_t json_int(const json& v, const std::string& key) {
  constexpr double kLimit = 9.2e18;  // inside int64's range, where doubles are still exact enough
  // 64.0 is accepted as 64: JSON writers often print integral floats that way.
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (std::fabs(d) < kLimit && d == std::floor(d)) return static_cast<int64_t>(d);
    if (d == std::floor(d)) {
      throw UserError(fmt::format("{} is out of range: {} (integers from {} to {})", key,
                                  json_excerpt(v), INT64_MIN, INT64_MAX));
    }
  }
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
    throw UserError(
        fmt::format("{} is out of range: {} (at most {})", key, json_excerpt(v), INT64_MAX));
  }
  if (!v.is_number_integer()) {
    throw UserError(
        fmt::format("{} must be an integer, got {} ({})", key, json_excerpt(v), json_type_name(v)));
  }
  return v.get<int64_t>();
}

std::string json_string(const json& v, const std::string& key) {
  if (!v.is_string()) {
    throw UserError(
        fmt::format("{} must be a string, got {} ({})", key, json_excerpt(v), json_type_name(v)));
  }
  return v.get<std::string>();
}

int64_t json_int_in(const json& v, const std::string& key, int64_t low, int64_t high) {
  int64_t x = 0;
  bool fits = true;
  try {
    x = json_int(v, key);
  } catch (const UserError&) {
    if (!v.is_number()) throw;  // a string, a list, ...: json_int says what it got
    fits = false;               // beyond int64 or not whole: say which range is allowed
  }
  if (!fits || x < low || x > high) {
    throw UserError(
        fmt::format("{} must be an integer in [{}, {}], got {}", key, low, high, json_excerpt(v)));
  }
  return x;
}

std::string json_one_of(const json& v, const std::string& key,
                        const std::vector<std::string>& allowed) {
  const std::string s = json_string(v, key);
  if (std::find(allowed.begin(), allowed.end(), s) != allowed.end()) return s;
  throw UserError(fmt::format("{} must be one of {}, got {}.{}", key, join_quoted(allowed),
                              json_excerpt(v), did_you_mean(s, allowed)));
}

bool json_bool(const json& v, const std::string& key) {
  if (!v.is_boolean()) {
    throw UserError(fmt::format("{} must be true or false, got {} ({})", key, json_excerpt(v),
                                json_type_name(v)));
  }
  return v.get<bool>();
}

void check_known_keys(const json& obj, const std::vector<std::string>& allowed,
                      const std::string& where) {
  for (const auto& item : obj.items()) {
    const std::string& key = item.key();
    if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
    const std::string full = where.empty() ? key : where + "." + key;
    throw UserError(fmt::format("unknown key '{}'{}.{}", full, where.empty() ? "" : " in " + where,
                                did_you_mean(key, allowed)),
                    "allowed keys: " + join_quoted(allowed));
  }
}

std::string join_quoted(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items)
    out += (out.empty() ? "'" : ", '") + s + "'";
  return out;
}

json parse_json_text(const std::string& text, const std::string& origin) {
  // Where the parser is: one frame per open object or array. A key given twice in one object is
  // an error: the parser would keep the last value and silently drop the first.
  struct Frame {
    bool array = false;
    std::set<std::string> keys;
    std::string key;   // object: the current key
    size_t index = 0;  // array: the current element
  };
  std::vector<Frame> stack;
  auto path_to = [&stack](const std::string& key) {
    std::string path;
    for (size_t i = 0; i + 1 < stack.size(); ++i) {
      path += stack[i].array ? fmt::format("[{}]", stack[i].index)
                             : (path.empty() ? "" : ".") + stack[i].key;
    }
    return path + (path.empty() ? "" : ".") + key;
  };
  const auto guard = [&](int depth, json::parse_event_t event, json& parsed) {
    if (depth > kMaxJsonDepth) {
      throw UserError(fmt::format("{}: JSON nested deeper than {} levels", origin, kMaxJsonDepth));
    }
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        stack.push_back(Frame{event == json::parse_event_t::array_start, {}, {}, 0});
        break;
      case json::parse_event_t::key: {
        Frame& f = stack.back();
        f.key = parsed.get<std::string>();
        if (!f.keys.insert(f.key).second) {
          throw UserError(
              fmt::format("{}: key '{}' is given twice; JSON would keep only the last value",
                          origin, path_to(f.key)),
              "remove one of them");
        }
        break;
      }
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        stack.pop_back();
        if (!stack.empty() && stack.back().array) ++stack.back().index;
        break;
      case json::parse_event_t::value:
        if (!stack.empty() && stack.back().array) ++stack.back().index;
        break;
    }
    return true;
  };
  try {
    return json::parse(text, guard);
  } catch (const json::out_of_range& e) {
    // e.g. "number overflow parsing '1e999'": no position is known, the text says which.
    std::string what = e.what();
    const size_t bracket = what.find("] ");
    if (bracket != std::string::npos) what = what.substr(bracket + 2);
    throw UserError(fmt::format("{}: invalid JSON: {}", origin, what),
                    "numbers must fit a double (about 1.8e308)");
  } catch (const json::parse_error& e) {
    // e.byte is 1-based and points just past the offending character.
    size_t line = 1, column = 1;
    const size_t end = std::min(text.size(), e.byte > 0 ? e.byte - 1 : 0);
    for (size_t i = 0; i < end; ++i) {
      if (text[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    std::string what = e.what();
    const size_t colon = what.find("parse error");
    if (colon != std::string::npos) what = what.substr(colon);
    throw UserError(fmt::format("{}:{}:{}: invalid JSON: {}", origin, line, column, what));
  }
}

json read_json_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw UserError(fmt::format("{}: is a folder, not a file", path));
  }
  std::ifstream in(path);
  if (!in) {
    throw UserError(fmt::format("{}: cannot open file: {}", path, std::strerror(errno)),
                    "check the path; relative paths are taken from the current folder");
  }
  return parse_json_text(read_json_source(in, path), path);
}

std::string read_json_source(std::istream& in, const std::string& origin) {
  constexpr size_t kMaxBytes = size_t{64} << 20;
  std::string text;
  std::vector<char> chunk(size_t{1} << 16);
  while (in.read(chunk.data(), static_cast<std::streamsize>(chunk.size())) || in.gcount() > 0) {
    text.append(chunk.data(), static_cast<size_t>(in.gcount()));
    if (text.size() > kMaxBytes) {
      throw UserError(fmt::format("{}: larger than 64 MB, not a JSON config or metrics", origin),
                      "give the JSON file itself");
    }
  }
  const size_t nul = text.find('\0');
  if (nul != std::string::npos) {  // JSON text has none; the parser would stop there quietly
    throw UserError(fmt::format("{}: byte {} is NUL: not a JSON text file", origin, nul + 1),
                    "give the JSON file itself, saved as UTF-8 text");
  }
  return text;
}

}  // namespace cusweep
