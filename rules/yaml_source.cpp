// A YAML text read with positions: one-document check, map entries with their key marks, problems as FILE:LINE:COLUMN.
#include "rules/yaml_source.hpp"

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <map>
#include <sstream>
#include <system_error>
#include <utility>

#include <yaml-cpp/eventhandler.h>

namespace staleguard::rules {
namespace {

// Keeps only where a document starts; the nodes themselves are built by YAML::Load.
class DocumentStartRecorder : public YAML::EventHandler {
public:
    YAML::Mark start = YAML::Mark::null_mark();

    void OnDocumentStart(const YAML::Mark& mark) override { start = mark; }
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
    void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
    void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
    void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
    void OnMapEnd() override {}
};

}  // namespace

std::string describe_type(const YAML::Node& node) {
    switch (node.Type()) {
        case YAML::NodeType::Scalar: return "a scalar";
        case YAML::NodeType::Sequence: return "a list";
        case YAML::NodeType::Map: return "a map";
        case YAML::NodeType::Null:
        case YAML::NodeType::Undefined: break;
    }
    return "nothing";
}

std::string quoted_text(std::string_view text) { return "'" + printable(text) + "'"; }

std::string join(std::span<const std::string_view> words) {
    std::string joined;
    for (const std::string_view word : words) {
        if (!joined.empty()) {
            joined += ", ";
        }
        joined += word;
    }
    return joined;
}

YAML::Mark mark_of(const YamlMapEntry& entry) {
    const YAML::Mark mark = entry.value.Mark();
    return mark.is_null() || entry.value.IsNull() ? entry.key_node.Mark() : mark;
}

FileText read_file_text(const std::string& path, std::size_t max_bytes, std::string_view noun) {
    FileText file;
    std::ifstream stream(path, std::ios::binary);
    if (!stream) {
        const std::error_code cause(errno, std::generic_category());
        file.problem = RuleProblem{path, 0, 0, "cannot open " + std::string(noun) + ": " + cause.message()};
        return file;
    }
    // One byte past the limit is enough to refuse a huge file without reading it all.
    file.text.assign(max_bytes + 1, '\0');
    stream.read(file.text.data(), static_cast<std::streamsize>(file.text.size()));
    if (stream.bad()) {
        file.problem = RuleProblem{path, 0, 0, "cannot read " + std::string(noun)};
        file.text.clear();
        return file;
    }
    file.text.resize(static_cast<std::size_t>(stream.gcount()));
    return file;
}

void YamlSource::add_problem(const YAML::Mark& mark, std::string message) {
    // A missing mark still gets a position so that every problem line has the same shape.
    const int line = mark.is_null() ? 1 : mark.line + 1;
    const int column = mark.is_null() ? 1 : mark.column + 1;
    problems_.push_back(RuleProblem{file_, line, column, std::move(message)});
}

std::vector<RuleProblem> YamlSource::take_sorted_problems() {
    std::stable_sort(problems_.begin(), problems_.end(), [](const RuleProblem& a, const RuleProblem& b) {
        return std::pair(a.line, a.column) < std::pair(b.line, b.column);
    });
    return std::move(problems_);
}

std::optional<YAML::Node> YamlSource::load(std::string_view text, std::size_t max_bytes) {
    if (text.size() > max_bytes) {
        problems_.push_back(
            RuleProblem{file_, 0, 0, noun_ + " is larger than " + std::to_string(max_bytes) + " bytes"});
        return std::nullopt;
    }
    try {
        if (!has_single_document(text)) {
            return std::nullopt;
        }
        return YAML::Load(std::string(text));
    } catch (const YAML::ParserException& error) {
        add_problem(error.mark, "YAML syntax error: " + printable(error.msg));
    } catch (const std::exception& error) {
        add_problem(YAML::Mark::null_mark(), "cannot read YAML: " + printable(error.what()));
    }
    return std::nullopt;
}

// yaml-cpp 0.7 never consumes a stray top-level ',' and reports an empty document for it again
// and again, so YAML::LoadAll loops until memory runs out (yaml-cpp issue #1040); YAML::Load
// silently ignores every document after the first. Documents are counted here instead,
// stopping at the third or at the first one that made no progress.
bool YamlSource::has_single_document(std::string_view text) {
    std::istringstream stream{std::string(text)};
    YAML::Parser parser(stream);
    std::vector<YAML::Mark> starts;
    while (starts.size() < 3) {
        DocumentStartRecorder recorder;
        if (!parser.HandleNextDocument(recorder)) {
            break;
        }
        if (!starts.empty() && recorder.start.pos == starts.back().pos) {
            const auto at = static_cast<std::size_t>(std::max(recorder.start.pos, 0));
            const std::string token = at < text.size() ? std::string(1, text[at]) : std::string("end of input");
            add_problem(recorder.start, "YAML syntax error: unexpected " + quoted_text(token));
            return false;
        }
        starts.push_back(recorder.start);
    }
    if (starts.size() > 1) {
        add_problem(starts[1], noun_ + " has more than one YAML document");
        return false;
    }
    return true;
}

std::vector<YamlMapEntry> YamlSource::map_entries(const YAML::Node& map, std::span<const std::string_view> valid_keys,
                                                  std::string_view where, std::string_view section,
                                                  std::span<const UnsupportedKey> unsupported_keys) {
    std::vector<YamlMapEntry> entries;
    std::map<std::string, int> first_line_of_key;
    for (auto it = map.begin(); it != map.end(); ++it) {
        const YAML::Node key_node = it->first;
        if (!key_node.IsScalar()) {
            add_problem(key_node.Mark(), "keys must be plain names, got " + describe_type(key_node));
            continue;
        }
        const std::string& key = key_node.Scalar();
        std::string path = section.empty() ? key : std::string(section) + "." + key;
        if (std::find(valid_keys.begin(), valid_keys.end(), key) == valid_keys.end()) {
            const auto unsupported = std::find_if(unsupported_keys.begin(), unsupported_keys.end(),
                                                  [&key](const UnsupportedKey& known) { return known.key == key; });
            if (unsupported != unsupported_keys.end()) {
                add_problem(key_node.Mark(), quoted_text(key) + " is not supported yet: " + std::string(unsupported->why));
            } else {
                add_problem(key_node.Mark(), "unknown key " + quoted_text(key) + std::string(where) +
                                                 "; valid keys: " + join(valid_keys));
            }
            continue;
        }
        const auto [first, inserted] = first_line_of_key.emplace(key, key_node.Mark().line + 1);
        if (!inserted) {
            add_problem(key_node.Mark(), "duplicate key " + quoted_text(path) + " (first at line " +
                                             std::to_string(first->second) + ")");
            continue;
        }
        entries.push_back(YamlMapEntry{key, key_node, it->second, std::move(path)});
    }
    return entries;
}

const std::string* YamlSource::scalar_of(const YamlMapEntry& entry, std::string_view hint) {
    if (!entry.value.IsScalar()) {
        add_problem(mark_of(entry),
                    quoted_text(entry.path) + " must be a scalar, got " + describe_type(entry.value) + std::string(hint));
        return nullptr;
    }
    return &entry.value.Scalar();
}

}  // namespace staleguard::rules
