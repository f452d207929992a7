# tether's workspace watcher: run by store.sh (store_watch) in the checkpoint helper.
#
# It watches every folder of /workspace, .git included, with inotify (through syscall:
# the image needs perl, not a module), so that a checkpoint reads only what changed
# (trees.pl writes it). One line on the control fifo asks, one line on the reply fifo
# answers:
#   next BASE  `ok ID`: ID is the checkpoint of the workspace now, written from BASE and
#              what changed since the last request (the files changed since BASE are in
#              DIFF); or `full` when it cannot tell: BASE is not the checkpoint of the
#              last answer, the kernel's queue overflowed, a watch could not be added, a
#              nested .git, too much to read, a git process that failed. The checkpoint
#              then reads the whole workspace.
#   took ID    (no answer) ID is the checkpoint of the workspace as of the last answer.
# Events are queued by the kernel as the change is made, so a request after a call has
# ended sees all of that call's changes. A file with more than one name is named every
# time: a write through one name changes the others, and only that one is reported.
use strict;
use warnings;
use Config;

my ($CTL, $REPLY, $DIFF) = @ARGV;
require '/tether/trees.pl';
my %SYSCALLS = (x86_64 => [294, 254], aarch64 => [26, 27]);  # inotify_init1, add_watch
my ($arch) = $Config{archname} =~ /^([^-]+)/;
my ($INIT, $ADD) = @{ $SYSCALLS{$arch} // exit 3 };
# modify attrib close_write moved_from moved_to create delete delete_self move_self
my $EVENTS = 0x2 | 0x4 | 0x8 | 0x40 | 0x80 | 0x100 | 0x200 | 0x400 | 0x800;
my $MASK = $EVENTS | 0x1000000 | 0x2000000;  # onlydir, dont_follow
my ($OVERFLOW, $IGNORED, $ISDIR) = (0x4000, 0x8000, 0x40000000);

my $fd = syscall($INIT, 04000 | 02000000);  # nonblock, cloexec
exit 3 if $fd < 0;
open(my $queue, '<&=', $fd) or exit 3;
my (%folder, %changed, %linked);
my ($broken, $overflowed) = (0, 0);
my $known = '';  # the checkpoint of the workspace as of the last answer, when known

sub watch {
    my ($path) = @_;
    my $wd = syscall($ADD, $fd, $path, $MASK);
    if ($wd < 0) { $broken = 1 if -d $path && !-l $path; return }
    $folder{$wd} = $path;  # a folder moved keeps its watch: this renames it
    opendir(my $dir, $path) or return;
    for my $name (readdir $dir) {
        next if $name eq '.' || $name eq '..';
        my $child = "$path/$name";
        linked($child);
        watch($child) if -d $child && !-l $child;
    }
}

sub linked {
    my ($path) = @_;
    my @stat = lstat $path;
    $linked{$path} = 1 if @stat && -f _ && $stat[3] > 1;
}

sub drain {
    while (defined(my $read = sysread($queue, my $buffer, 65536))) {
        last if $read == 0;
        for (my $at = 0; $at < $read;) {
            my ($wd, $mask, undef, $length) = unpack('iIII', substr($buffer, $at, 16));
            my $name = unpack('Z*', substr($buffer, $at + 16, $length));
            $at += 16 + $length;
            $overflowed = 1, next if $mask & $OVERFLOW;
            delete $folder{$wd}, next if $mask & $IGNORED;
            my $base = $folder{$wd} // next;
            my $path = $length ? "$base/$name" : $base;
            $changed{$path} = 1;
            linked($path);
            watch($path) if ($mask & $ISDIR) && ($mask & (0x80 | 0x100));  # moved in, created
        }
    }
}

sub answer {
    my ($base) = @_;
    if ($overflowed) {  # the folders made meanwhile have no watch yet
        watch('/workspace');
        return 'full';
    }
    return 'full' if $broken || $base eq '' || $base ne $known;
    my (%files, %git);
    for my $path (keys %changed, keys %linked) {
        return 'full' if $path eq '/workspace' || $path eq '/workspace/.git';
        my $relative = substr($path, 11);
        my $part = $relative =~ s{^\.git/}{} ? \%git : \%files;
        return 'full' if grep { special($_) } split m{/}, $relative;
        $part->{$relative} = 1;
        delete $linked{$path} unless lstat $path;
    }
    my $id = eval { checkpoint($base, \%files, \%git, $DIFF) };
    return "ok $id" if defined $id;
    stop_git();  # a request cut short leaves its answer in the pipe: they start again
    return 'full';
}

watch('/workspace');
open(my $ctl, '+<', $CTL) or exit 3;
open(my $reply, '+<', $REPLY) or exit 3;
$reply->autoflush(1);
print $reply "ready\n";
$SIG{PIPE} = 'IGNORE';  # a git process that died is an error to answer, not an end
while (defined(my $line = <$ctl>)) {
    my ($verb, $id) = $line =~ /^(\w+) ?(\S*)/ or next;
    if ($verb eq 'took') {
        $known = $id;
        eval { start_git() };  # now, not in the next checkpoint
        next;
    }
    drain();
    my $answer = answer($id);
    ($known) = $answer =~ /^ok (\S+)/ ? ($1) : ('');
    %changed = ();
    $overflowed = 0;
    print $reply "$answer\n";
}
