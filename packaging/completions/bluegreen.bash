# bash completion for bluegreen. Commands and options are read from the installed binary's
# own help (`bluegreen --help`, `bluegreen help COMMAND`), so they never go stale; service
# names come from the daemon (`bluegreen status --json`) when it answers.

_bluegreen_commands()
{
    "$1" --help 2>/dev/null | sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p'
}

_bluegreen_options()
{
    "$1" help "$2" 2>/dev/null | grep -o -- '--[a-z][a-z-]*' | sort -u
}

_bluegreen_services()
{
    "$1" "${@:2}" status --json 2>/dev/null |
        grep -o '"name": *"[^"]*"' | sed 's/.*"\([^"]*\)"$/\1/' | sort -u
}

_bluegreen()
{
    local cur prev bin cmd i
    local -a global=()
    COMPREPLY=()
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD - 1]}
    bin=${COMP_WORDS[0]}

    case $prev in
        -c | --config | -f) compopt -o filenames 2>/dev/null
            mapfile -t COMPREPLY < <(compgen -f -- "$cur"); return 0 ;;
        --admin | --token | --version | --cmd | --image | --label | --env | --count | \
        --limit | --bytes | --actor | --listen) return 0 ;;
        --strategy) mapfile -t COMPREPLY < <(compgen -W 'all-at-once canary:10%:5m linear:10%:1m' -- "$cur"); return 0 ;;
        --slot) mapfile -t COMPREPLY < <(compgen -W 'live preview' -- "$cur"); return 0 ;;
    esac

    # The command is the first word that is neither an option nor an option's value.
    cmd=
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
            --admin | --token | -c | --config) global+=("${COMP_WORDS[i]}" "${COMP_WORDS[i + 1]}"); ((i++)) ;;
            -*) ;;
            *) cmd=${COMP_WORDS[i]}; break ;;
        esac
    done

    if [[ -z $cmd ]]; then
        if [[ $cur == -* ]]; then
            mapfile -t COMPREPLY < <(compgen -W '--admin --token --config --help --version' -- "$cur")
        else
            mapfile -t COMPREPLY < <(compgen -W "$(_bluegreen_commands "$bin") help" -- "$cur")
        fi
        return 0
    fi
    if [[ $cmd == help ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$(_bluegreen_commands "$bin")" -- "$cur")
        return 0
    fi
    if [[ $cur == -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$(_bluegreen_options "$bin" "$cmd")" -- "$cur")
        return 0
    fi
    case $cmd in
        plan | release) compopt -o filenames 2>/dev/null
            mapfile -t COMPREPLY < <(compgen -f -- "$cur") ;;
        serve | check-config | shutdown | matrix | events | dashboard | reopen-logs | reload) ;;
        *) mapfile -t COMPREPLY < <(compgen -W "$(_bluegreen_services "$bin" "${global[@]}")" -- "$cur") ;;
    esac
    return 0
}

complete -F _bluegreen bluegreen
