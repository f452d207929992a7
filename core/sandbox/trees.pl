# tether's checkpoint writer: required by watch.pl, in the checkpoint helper, with the
# store's git environment (GIT_DIR=/store/git).
#
# checkpoint(BASE, FILES, GIT) writes the checkpoint of the workspace now, given BASE
# (a checkpoint: the tree {files, git}) and the paths changed since BASE was taken
# (FILES under /workspace, GIT under /workspace/.git, as hashes of relative paths). It
# reads only those paths: a file is hashed, a folder read whole, a path that is gone
# taken out; then only the trees above them are written. Objects are read and written
# by three git processes kept for the watcher's life (cat-file, hash-object, mktree), so
# a checkpoint starts no process, and the trees are git's own, byte for byte, as
# `git add -A -f` and `git write-tree` would make them (test_checkpoint_watch.py checks).
# It dies with "full\n" where it must not guess: a name git treats specially (.git), more
# than BUDGET files to hash, a git process that fails. The files changed since BASE are
# written to the diff file as `git diff-tree -r --name-status` shows them (the first
# SHOWN), then their number.
use strict;
use warnings;
use IPC::Open2;

our $BUDGET = $ENV{TETHER_WATCH_BUDGET} || 2000;  # the variable: for tests
my $SHOWN = 50;
my $EMPTY = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';  # git knows the empty tree
my %git;  # the git processes: name => [pid, in, out]
my @CAT_FILE = ('cat-file', '--batch');
my @MKTREE = ('mktree', '-z', '--missing', '--batch');
my @HASH = ('hash-object', '-w', '--no-filters', '--stdin-paths');
# .git as it is: git's packs and objects are compressed already
my @HASH_RAW = ('-c', 'core.looseCompression=0', @HASH);
my $left;  # files this checkpoint may still hash
my @unhashed;  # [entry, path] of the files read, to hash together

sub checkpoint {
    my ($base, $files, $gitfiles, $diff_file) = @_;
    $left = $BUDGET;
    my $root = load($base);
    my ($f, $new) = part($root->{files}, $files, '/workspace', \@HASH);
    my $g;
    if (-d '/workspace/.git' && !-l '/workspace/.git') {
        die "full\n" unless $root->{git};
        ($g) = %$gitfiles ? part($root->{git}, $gitfiles, '/workspace/.git', \@HASH_RAW)
                          : ($root->{git}[1]);
    }
    die "full\n" if $root->{git} && !defined $g;
    my %top = (files => ['40000', $f // $EMPTY]);
    $top{git} = ['40000', $g // $EMPTY] if defined $g;
    my $id = mktree(\%top);
    my @changed;
    diff_trees($root->{files} ? load($root->{files}[1]) : {}, $new, '', \@changed);
    write_diff($diff_file, sort { $a->[0] cmp $b->[0] } @changed);
    return $id;
}

# part(ENTRY, PATHS, DIR, HASH): the tree of DIR (its id, or undef when empty, and its
# node): ENTRY's tree (the tree entry from BASE, if any) with PATHS read again, hashed by
# the git process HASH
sub part {
    my ($entry, $paths, $dir, $hash) = @_;
    my $node = $entry ? load($entry->[1]) : {};
    my %done;
    @unhashed = ();
    for my $path (sort keys %$paths) {
        my @parts = split m{/}, $path;
        next if grep { $done{ join '/', @parts[0 .. $_] } } 0 .. $#parts - 1;  # read with a folder
        set($node, $path, from_disk("$dir/$path"));
        $done{$path} = 1;
    }
    hash_all(@$hash);
    return (write_node($node), $node);
}

# A node is a folder's entries: name => [mode, id, node]; an id of undef means that the
# node changed and is written by write_node.
sub set {
    my ($node, $path, $entry) = @_;
    my @parts = split m{/}, $path;
    my $leaf = pop @parts;
    for my $name (@parts) {
        my $found = $node->{$name};
        if (!$found || $found->[0] ne '40000') {
            return unless $entry;  # nothing to take out
            $found = $node->{$name} = ['40000', undef, {}];
        }
        $found->[2] //= load($found->[1]);
        $found->[1] = undef;
        $node = $found->[2];
    }
    if ($entry) { $node->{$leaf} = $entry } else { delete $node->{$leaf} }
}

sub from_disk {  # the entry of PATH as it is now; its files' ids come with hash_all
    my ($path) = @_;
    my @stat = lstat $path or return undef;
    if (-l _ || -f _) {
        $left-- > 0 or die "full\n";
        my $entry = [-l _ ? '120000' : ($stat[2] & 0100) ? '100755' : '100644'];
        push @unhashed, [$entry, $path];
        return $entry;
    }
    return undef unless -d _;  # git keeps no fifo, socket or device
    opendir(my $dir, $path) or die "full\n";
    my %node;
    for my $name (grep { $_ ne '.' && $_ ne '..' } readdir $dir) {
        die "full\n" if special($name);
        my $entry = from_disk("$path/$name");
        $node{$name} = $entry if $entry;
    }
    return %node ? ['40000', undef, \%node] : undef;  # git keeps no empty folder
}

# A name git will not take as a plain file or folder (a repository, or one that reads
# as .git on some file system): the watcher leaves those to git.
sub special {
    my ($name) = @_;
    return lc($name) =~ /^(\.git[. ]*|git~\d+)$/;
}

sub write_node {
    my ($node) = @_;
    for my $name (keys %$node) {
        my $entry = $node->{$name};
        next if defined $entry->[1];
        my $id = write_node($entry->[2]);
        if (defined $id) { $entry->[1] = $id } else { delete $node->{$name} }
    }
    return %$node ? mktree($node) : undef;
}

# -- the files changed, as git diff-tree -r --no-renames --name-status shows them ---------

sub diff_trees {
    my ($old, $new, $prefix, $out) = @_;
    my %names = map { $_ => 1 } keys %$old, keys %$new;
    for my $name (keys %names) {
        my ($was, $is) = ($old->{$name}, $new->{$name});
        next if $was && $is && $was->[0] eq $is->[0] && $was->[1] eq $is->[1];
        my $path = "$prefix$name";
        my ($was_tree, $is_tree) = map { $_ && $_->[0] eq '40000' } $was, $is;
        if ($was_tree || $is_tree) {
            push @$out, [$path, 'D'] if $was && !$was_tree;
            push @$out, [$path, 'A'] if $is && !$is_tree;
            diff_trees($was_tree ? load($was->[1]) : {},
                       $is_tree ? ($is->[2] // load($is->[1])) : {}, "$path/", $out);
        } elsif (!$was || !$is) {
            push @$out, [$path, $was ? 'D' : 'A'];
        } else {
            push @$out, [$path, kind($was->[0]) eq kind($is->[0]) ? 'M' : 'T'];
        }
    }
}

sub kind { my ($mode) = @_; return $mode =~ /^100/ ? 'file' : $mode }

sub write_diff {
    my ($file, @changed) = @_;
    open(my $out, '>', $file) or die "full\n";
    my $last = $#changed < $SHOWN ? $#changed : $SHOWN - 1;
    print $out "$_->[1]\t", quoted($_->[0]), "\n" for @changed[0 .. $last];
    print $out scalar(@changed), "\n";
    close($out) or die "full\n";
}

# A path as git quotes it with core.quotePath=false: in double quotes, with C escapes,
# when it holds a quote, a backslash or a control character
my %ESCAPE = ("\a" => 'a', "\b" => 'b', "\t" => 't', "\n" => 'n', "\x0b" => 'v', "\f" => 'f',
              "\r" => 'r', '"' => '"', '\\' => '\\');
sub quoted {
    my ($path) = @_;
    return $path unless $path =~ /[\x00-\x1f\x7f"\\]/;
    $path =~ s/([\x00-\x1f\x7f"\\])/'\\' . ($ESCAPE{$1} \/\/ sprintf('%03o', ord $1))/ge;
    return "\"$path\"";
}

# -- git objects -------------------------------------------------------------------------


sub start_git { git(@$_) for \@CAT_FILE, \@MKTREE, \@HASH }  # the .git one when needed

sub load {  # the entries of tree ID
    my ($id) = @_;
    my ($in, $out) = git(@CAT_FILE);
    print $in "$id\n" or die "full\n";
    my ($found, $type, $size) = split ' ', (<$out> // die "full\n");
    die "full\n" unless ($type // '') eq 'tree';
    read($out, my $raw, $size + 1) == $size + 1 or die "full\n";
    my %node;
    $node{$2} = [$1, unpack('H*', $3)] while $raw =~ /\G(\d+) ([^\0]*)\0(.{20})/gcs;
    return \%node;
}

sub mktree {
    my ($node) = @_;
    my %type = ('40000' => 'tree', '160000' => 'commit');
    my ($in, $out) = git(@MKTREE);
    print $in (map { "$node->{$_}[0] " . ($type{$node->{$_}[0]} // 'blob') . " $node->{$_}[1]\t$_\0" }
               keys %$node), "\0" or die "full\n";
    return object_id($out);
}

sub hash_all {  # the files read: many paths are sent before the ids are read back
    my ($in, $out) = git(@_);
    while (my @batch = splice(@unhashed, 0, 500)) {  # their ids fit in a pipe's buffer
        my @links = grep { $_->[0][0] eq '120000' } @batch;
        $_->[0][1] = hash_data(readlink($_->[1]) // die "full\n") for @links;
        my @files = grep { $_->[0][0] ne '120000' } @batch;
        print $in map { ($_->[1] =~ /\n/ ? quoted($_->[1]) : $_->[1]) . "\n" } @files or die "full\n";
        $_->[0][1] = object_id($out) for @files;
    }
}

sub hash_data {  # a symbolic link's blob: a git process of its own, as they are few
    my ($data) = @_;
    my $pid = open2(my $out, my $in, 'git', 'hash-object', '-w', '--no-filters', '--stdin');
    print $in $data;
    close($in);
    my $id = object_id($out);
    waitpid($pid, 0);
    return $id;
}

sub object_id {
    my ($out) = @_;
    my $line = <$out> // die "full\n";
    $line =~ /^([0-9a-f]{40})$/ or die "full\n";
    return $1;
}

sub git {  # the pipes to the kept git process that runs these arguments
    my $key = join ' ', @_;
    return @{ $git{$key} }[1, 2] if $git{$key};
    my $pid = open2(my $out, my $in, 'git', @_) or die "full\n";
    $in->autoflush(1);
    $git{$key} = [$pid, $in, $out];
    return ($in, $out);
}

sub stop_git {  # after a failure: each starts again when next needed
    for my $process (values %git) {
        close($process->[1]);
        close($process->[2]);
        kill 'TERM', $process->[0];
        waitpid($process->[0], 0);
    }
    %git = ();
}

1;
