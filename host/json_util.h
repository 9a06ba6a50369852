// Typed access to JSON config values with errors that name the key, the value and the type
// expected; unknown-key checks with spelling suggestions; JSON files read with line numbers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace cusweep {

const char* json_type_name(const nlohmann::json& v);
// The value as JSON text for an error message, cut to about 60 characters.
std::string json_excerpt(const nlohmann::json& v);
// v.dump(indent), where bytes of its strings that are not UTF-8 become U+FFFD instead of an
// exception: for result files and messages, which must not fail on a string read from a file
// name, an exception's text or a damaged study.
std::string dump_text(const nlohmann::json& v, int indent = -1);
// True when `s` is UTF-8 text.
bool is_utf8(const std::string& s);
double json_number(const nlohmann::json& v, const std::string& key);
int64_t json_int(const nlohmann::json& v, const std::string& key);
std::string json_string(const nlohmann::json& v, const std::string& key);
bool json_bool(const nlohmann::json& v, const std::string& key);
// An integer in [low, high]; errors name the key, the value and the range.
int64_t json_int_in(const nlohmann::json& v, const std::string& key, int64_t low, int64_t high);
// A string among `allowed`; errors list them and suggest the closest.
std::string json_one_of(const nlohmann::json& v, const std::string& key,
                        const std::vector<std::string>& allowed);

// Throws UserError for the first key of `obj` not in `allowed`, suggesting the closest one.
// `where` names the object ("training"; "" for the top level).
void check_known_keys(const nlohmann::json& obj, const std::vector<std::string>& allowed,
                      const std::string& where);

// "'a', 'b', 'c'"
std::string join_quoted(const std::vector<std::string>& items);

// JSON deeper than this is refused: no config or metrics dict nests more than a few levels,
// and printing or copying a deeper value would recurse that deep.
constexpr int kMaxJsonDepth = 64;

// All of `in`, read from `origin`; more than 64 MB is a UserError (a config or metrics dict is a
// few KB, and /dev/zero would otherwise take all memory).
std::string read_json_source(std::istream& in, const std::string& origin);
// Parses a JSON file; a syntax error names the file, line and column.
nlohmann::json read_json_file(const std::string& path);
// Parses JSON text read from `origin` (a file name or "<stdin>").
nlohmann::json parse_json_text(const std::string& text, const std::string& origin);

}  // namespace cusweep
