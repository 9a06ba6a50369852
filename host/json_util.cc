// Typed JSON access and parse errors with line numbers.
#include "json_util.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

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

double json_number(const json& v, const std::string& key) {
  if (!v.is_number()) {
    throw UserError(
        fmt::format("{} must be a number, got {} ({})", key, v.dump(), json_type_name(v)));
  }
  return v.get<double>();
}

int64_t json_int(const json& v, const std::string& key) {
  // 64.0 is accepted as 64: JSON writers often print integral floats that way.
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (d == static_cast<double>(static_cast<int64_t>(d))) return static_cast<int64_t>(d);
  }
  if (!v.is_number_integer()) {
    throw UserError(
        fmt::format("{} must be an integer, got {} ({})", key, v.dump(), json_type_name(v)));
  }
  return v.get<int64_t>();
}

std::string json_string(const json& v, const std::string& key) {
  if (!v.is_string()) {
    throw UserError(
        fmt::format("{} must be a string, got {} ({})", key, v.dump(), json_type_name(v)));
  }
  return v.get<std::string>();
}

bool json_bool(const json& v, const std::string& key) {
  if (!v.is_boolean()) {
    throw UserError(
        fmt::format("{} must be true or false, got {} ({})", key, v.dump(), json_type_name(v)));
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
  try {
    return json::parse(text);
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
  std::ifstream in(path);
  if (!in) {
    throw UserError(fmt::format("{}: cannot open file: {}", path, std::strerror(errno)),
                    "check the path; relative paths are taken from the current folder");
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  return parse_json_text(buffer.str(), path);
}

}  // namespace cusweep
